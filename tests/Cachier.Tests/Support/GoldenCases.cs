namespace Cachier.Tests.Support;

/// <summary>Golden-file tests: one folder per case under <c>testassets/&lt;set&gt;/</c>; a new case is a new folder.</summary>
internal static class GoldenCases
{
    public static string Root(string set) => Path.Combine(AppContext.BaseDirectory, "testassets", set);

    /// <summary>The case folder names of <paramref name="root"/>, in ordinal order (for [MemberData]).</summary>
    public static TheoryData<string> In(string root)
    {
        var cases = new TheoryData<string>();
        foreach (var directory in Directory.EnumerateDirectories(root).Order(StringComparer.Ordinal))
        {
            cases.Add(Path.GetFileName(directory));
        }

        return cases;
    }
}
