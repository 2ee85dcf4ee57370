namespace Cachier.Configuration;

/// <summary>The rules of the <c>Cachier:Authentication</c> section that the validator and the token check share.</summary>
public static class SenderAuthenticationSettings
{
    /// <summary>Dapr's app API token: the sidecar sends it as the <c>dapr-api-token</c> header, and sets it in this variable.</summary>
    public const string DaprTokenVariable = "APP_API_TOKEN";

    public const string ServiceAccountPrefix = "system:serviceaccount:";

    /// <summary>The allowed subjects, a list or comma-separated values, trimmed.</summary>
    public static IReadOnlySet<string> Subjects(SenderAuthenticationOptions options) =>
        options.AllowedSubjects
            .SelectMany(s => s.Split([',', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            .ToHashSet(StringComparer.Ordinal);

    /// <summary><c>system:serviceaccount:NAMESPACE:NAME</c>, both parts valid names.</summary>
    public static bool IsServiceAccountSubject(string subject)
    {
        if (!subject.StartsWith(ServiceAccountPrefix, StringComparison.Ordinal))
        {
            return false;
        }

        var parts = subject[ServiceAccountPrefix.Length..].Split(':');
        return parts.Length == 2 && Domain.Names.IsDnsLabel(parts[0]) && Domain.Names.IsDnsSubdomain(parts[1]);
    }
}
