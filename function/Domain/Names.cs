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
