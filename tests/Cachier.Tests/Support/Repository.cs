namespace Cachier.Tests.Support;

/// <summary>Files of the repository under test, found from the test binaries upwards.</summary>
public static class Repository
{
    public static string Root { get; } = FindRoot();

    public static string KnativeDir => Path.Combine(Root, "knative");

    public static string ServiceYaml => Path.Combine(Root, "knative", "service.yaml");

    public static string ApiServerSourceYaml => Path.Combine(Root, "knative", "apiserversource.yaml");

    public static string WarmerYaml => Path.Combine(Root, "knative", "warmer.yaml");

    public static string Dockerfile => Path.Combine(Root, "Dockerfile");

    public static string PublishScript => Path.Combine(Root, "scripts", "publish.sh");

    /// <summary>The Native AOT binary scripts/publish.sh writes (what the image ships).</summary>
    public static string PublishedBinary => Path.Combine(Root, "artifacts", "publish", "cachier");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Cachier.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no Cachier.sln above {AppContext.BaseDirectory}");
    }
}
