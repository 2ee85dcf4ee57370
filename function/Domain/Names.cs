using System.Security.Cryptography;
using System.Text;

namespace Cachier.Domain;

/// <summary>Kubernetes name rules and the one place Image names are computed.</summary>
public static class Names
{
    private const int MaxLabel = 63;

    /// <summary>
    /// <c>prefix-h</c>: h = first 10 hex characters of SHA-256(uid + "/" + image); the workload name is cut so
    /// the whole name fits 63 characters. Deterministic, so redelivered and concurrent events can never
    /// create a second Image for the same (workload, image).
    /// </summary>
    public static string ImageName(string workloadName, string workloadUid, string image)
    {
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{workloadUid}/{image}")))[..10];
        var prefix = workloadName.Length > MaxLabel - 11 ? workloadName[..(MaxLabel - 11)] : workloadName;
        prefix = prefix.TrimEnd('-', '.');
        return prefix.Length == 0 ? hash : $"{prefix}-{hash}";
    }

    /// <summary>RFC 1123 label: what a namespace name must be.</summary>
    public static bool IsDnsLabel(string? value) => value is { Length: <= MaxLabel } && IsLabelShaped(value);

    /// <summary>RFC 1123 subdomain as Kubernetes checks it: 253 characters in all, no limit per label.</summary>
    public static bool IsDnsSubdomain(string? value) =>
        value is { Length: > 0 and <= 253 } && value.Split('.').All(IsLabelShaped);

    /// <summary>
    /// What a uid must be to serve as the <c>controller</c> label value and selector (the API server's uids are UUIDs):
    /// a label value, 1..63 characters, alphanumeric at both ends, <c>-_.</c> inside. Anything else was made up.
    /// </summary>
    public static bool IsUid(string? value) =>
        value is { Length: > 0 and <= MaxLabel } && char.IsAsciiLetterOrDigit(value[0]) && char.IsAsciiLetterOrDigit(value[^1])
        && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');

    private static bool IsLabelShaped(string value) =>
        value.Length > 0 && IsAlnumLower(value[0]) && IsAlnumLower(value[^1])
        && value.All(c => IsAlnumLower(c) || c == '-');

    private static bool IsAlnumLower(char c) => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c);
}

/// <summary>A watched kind, written as cachier's <c>Kind.version.group</c> (optionally <c>/plural</c>).</summary>
public sealed record ResourceKind(string Kind, string Version, string Group, string Plural)
{
    public string ApiVersion => Group.Length == 0 ? Version : $"{Group}/{Version}";

    /// <summary>The collection path, cluster-wide or in one namespace.</summary>
    public string CollectionPath(string? ns = null)
    {
        var root = Group.Length == 0 ? $"/api/{Version}" : $"/apis/{Group}/{Version}";
        return ns is null ? $"{root}/{Plural}" : $"{root}/namespaces/{ns}/{Plural}";
    }

    public override string ToString() =>
        (Group.Length == 0 ? $"{Kind}.{Version}" : $"{Kind}.{Version}.{Group}") + "/" + Plural;

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
