namespace Cachier.Domain;

/// <summary>A watched kind as written in cachier's configuration: <c>Kind.version.group</c> (optionally <c>/plural</c>).</summary>
public sealed partial record ResourceKind
{
    /// <summary>
    /// Parses <c>Bar.v1beta2.foo.example.io</c> (split on the first two dots), <c>Pod.v1</c> (core group),
    /// and an explicit plural after a slash: <c>Foo.v1.example.io/fooes</c>.
    /// </summary>
    public static ResourceKind Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var spec = text.Trim();
        string? plural = null;
        var slash = spec.IndexOf('/');
        if (slash >= 0)
        {
            plural = spec[(slash + 1)..];
            spec = spec[..slash];
            if (!Names.IsDnsLabel(plural))
            {
                throw new FormatException($"Resource '{text}': plural '{plural}' is not a lower-case DNS label.");
            }
        }

        var parts = spec.Split('.', 3);
        if (parts.Length < 2 || parts.Any(p => p.Length == 0))
        {
            throw new FormatException($"Resource '{text}' is not of the form Kind.version.group (or Kind.version for the core group).");
        }

        var (kind, version, group) = (parts[0], parts[1], parts.Length == 3 ? parts[2] : "");
        if (!IsKindName(kind))
        {
            throw new FormatException($"Resource '{text}': kind '{kind}' must start with a letter and contain only letters and digits.");
        }

        if (!Names.IsDnsLabel(version) || !char.IsAsciiLetterLower(version[0]))
        {
            throw new FormatException($"Resource '{text}': version '{version}' is not a valid API version such as v1 or v1beta1.");
        }

        if (group.Length > 0 && !Names.IsDnsSubdomain(group))
        {
            throw new FormatException($"Resource '{text}': group '{group}' is not a DNS subdomain.");
        }

        return new ResourceKind(kind, version, group, plural ?? GuessPlural(kind));
    }

    /// <summary>Kubernetes' <c>UnsafeGuessKindToResource</c>.</summary>
    public static string GuessPlural(string kind)
    {
        var lower = kind.ToLowerInvariant();
        if (lower.EndsWith('s'))
        {
            return lower + "es";
        }

        if (lower.EndsWith('y') && lower.Length > 1 && !"aeiou".Contains(lower[^2]))
        {
            return lower[..^1] + "ies";
        }

        return lower + "s";
    }

    private static bool IsKindName(string kind) =>
        char.IsAsciiLetter(kind[0]) && kind.All(char.IsAsciiLetterOrDigit);
}
