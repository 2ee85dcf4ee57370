using Cachier.Domain;
using Microsoft.Extensions.Options;

namespace Cachier.Configuration;

/// <summary>Fails the start with a message that names the bad value.</summary>
public sealed class CachierOptionsValidator : IValidateOptions<CachierOptions>
{
    public ValidateOptionsResult Validate(string? name, CachierOptions options)
    {
        var errors = new List<string>();
        try
        {
            _ = new CachierSettings(options);
        }
        catch (FormatException e)
        {
            errors.Add($"Cachier: {e.Message}");
        }

        foreach (var ns in options.ExcludedNamespaces.Where(ns => !Names.IsDnsLabel(ns)))
        {
            errors.Add($"Cachier:ExcludedNamespaces: '{ns}' is not a namespace name");
        }

        Check(options.MaxRequestBodyBytes > 0, $"Cachier:MaxRequestBodyBytes must be positive, not {options.MaxRequestBodyBytes}");
        Check(options.ResyncParallelism is > 0 and <= 256, $"Cachier:ResyncParallelism must be 1..256, not {options.ResyncParallelism}");
        Check(options.ResyncPageSize is > 0 and <= 10_000, $"Cachier:ResyncPageSize must be 1..10000, not {options.ResyncPageSize}");
        Check(options.MemoCapacity >= 0, $"Cachier:MemoCapacity must not be negative, not {options.MemoCapacity}");
        Check(options.MemoTtl > TimeSpan.Zero && options.MemoTtl <= TimeSpan.FromDays(1), $"Cachier:MemoTtl must be positive and at most a day, not {options.MemoTtl}");
        Check(options.ApiTimeout > TimeSpan.Zero, $"Cachier:ApiTimeout must be positive, not {options.ApiTimeout}");
        Check(options.ApiRetries is >= 0 and <= 10, $"Cachier:ApiRetries must be 0..10, not {options.ApiRetries}");
        Check(options.RequestDeadline > TimeSpan.Zero, $"Cachier:RequestDeadline must be positive, not {options.RequestDeadline}");
        Check(options.ResyncAnswerWithin > TimeSpan.Zero, $"Cachier:ResyncAnswerWithin must be positive, not {options.ResyncAnswerWithin}");
        Check(options.RetryAfterSeconds > 0, $"Cachier:RetryAfterSeconds must be positive, not {options.RetryAfterSeconds}");
        Check(options.ApiServerUrl is null || Uri.TryCreate(options.ApiServerUrl, UriKind.Absolute, out _),
            $"Cachier:ApiServerUrl '{options.ApiServerUrl}' is not an absolute URL");
        Check(options.LogFormat.ToLowerInvariant() is "json" or "simple", $"Cachier:LogFormat must be json or simple, not '{options.LogFormat}'");
        Check(string.IsNullOrEmpty(options.DaprTopic) == string.IsNullOrEmpty(options.DaprPubSubName),
            "Cachier:DaprPubSubName and Cachier:DaprTopic must be set together");
        Check(options.MaxBatchEvents is > 0 and <= 100_000, $"Cachier:MaxBatchEvents must be 1..100000, not {options.MaxBatchEvents}");
        Check(options.ResyncMinInterval >= TimeSpan.Zero, $"Cachier:ResyncMinInterval must not be negative, not {options.ResyncMinInterval}");
        Check(options.BodyMemoryBudgetBytes >= 2 * options.MaxRequestBodyBytes,
            $"Cachier:BodyMemoryBudgetBytes ({options.BodyMemoryBudgetBytes}) must hold at least one body of Cachier:MaxRequestBodyBytes ({options.MaxRequestBodyBytes}) twice (the body and its decoded events)");
        var auth = options.Authentication;
        if (auth.Mode == SenderAuthenticationMode.KubernetesToken)
        {
            Check(!string.IsNullOrWhiteSpace(auth.Audience),
                "Cachier:Authentication:Audience must be set (the sources' spec.sink.audience), or Cachier:Authentication:Mode=None to accept unauthenticated senders");
            var subjects = SenderAuthenticationSettings.Subjects(auth);
            Check(subjects.Count > 0,
                "Cachier:Authentication:AllowedSubjects must list the senders (system:serviceaccount:NAMESPACE:NAME), or Cachier:Authentication:Mode=None to accept unauthenticated senders");
            foreach (var bad in subjects.Where(s => !SenderAuthenticationSettings.IsServiceAccountSubject(s)))
            {
                errors.Add($"Cachier:Authentication:AllowedSubjects: '{bad}' is not system:serviceaccount:NAMESPACE:NAME");
            }

            Check(auth.ClockSkew >= TimeSpan.Zero && auth.ClockSkew <= TimeSpan.FromMinutes(5), $"Cachier:Authentication:ClockSkew must be 0..5 minutes, not {auth.ClockSkew}");
            Check(auth.KeysMaxAge > TimeSpan.Zero, $"Cachier:Authentication:KeysMaxAge must be positive, not {auth.KeysMaxAge}");
            Check(auth.KeysRefreshMinInterval > TimeSpan.Zero, $"Cachier:Authentication:KeysRefreshMinInterval must be positive, not {auth.KeysRefreshMinInterval}");
            Check(string.IsNullOrEmpty(options.DaprTopic) || !string.IsNullOrEmpty(auth.DaprApiToken),
                $"Dapr is configured and sender authentication is on, but {SenderAuthenticationSettings.DaprTokenVariable} is not set: give the Dapr sidecar an app API token (dapr.io/app-token-secret), or Cachier:Authentication:Mode=None");
        }

        Check(!options.TrustEmbeddedObjects || auth.Mode != SenderAuthenticationMode.None,
            "Cachier:TrustEmbeddedObjects requires sender authentication: with Cachier:Authentication:Mode=None anyone could write the object Cachier would trust");
        Check(options.Role.ToLowerInvariant() is CachierOptions.RoleImages or CachierOptions.RoleWarmer, $"Cachier:Role must be images or warmer, not '{options.Role}'");
        var w = options.Warmer;
        Check(!string.IsNullOrWhiteSpace(w.HelperImage), "Cachier:Warmer:HelperImage must name an image");
        Check(w.RunAsUser > 0, $"Cachier:Warmer:RunAsUser must be a non-root uid, not {w.RunAsUser}");
        Check(w.PullDeadline >= TimeSpan.FromSeconds(10), $"Cachier:Warmer:PullDeadline must be at least 10 s, not {w.PullDeadline}");
        Check(w.MaxPullPodsPerNode is > 0 and <= 100, $"Cachier:Warmer:MaxPullPodsPerNode must be 1..100, not {w.MaxPullPodsPerNode}");
        Check(w.MaxPullPods is > 0 and <= 10_000, $"Cachier:Warmer:MaxPullPods must be 1..10000, not {w.MaxPullPods}");
        Check(w.ImagesPerPod is > 0 and <= 64, $"Cachier:Warmer:ImagesPerPod must be 1..64, not {w.ImagesPerPod}");
        Check(w.RetryBackoff > TimeSpan.Zero && w.RetryBackoffMax >= w.RetryBackoff && w.RetryBackoffMax <= TimeSpan.FromDays(1),
            $"Cachier:Warmer:RetryBackoff ({w.RetryBackoff}) must be positive and at most RetryBackoffMax ({w.RetryBackoffMax}), itself at most a day");
        Check(w.PulledGrace >= TimeSpan.Zero, $"Cachier:Warmer:PulledGrace must not be negative, not {w.PulledGrace}");
        Check(w.OwnerCacheTtl >= TimeSpan.Zero && w.OwnerCacheTtl <= TimeSpan.FromHours(1),
            $"Cachier:Warmer:OwnerCacheTtl must be 0 (off) up to an hour, not {w.OwnerCacheTtl}");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);

        void Check(bool ok, string message)
        {
            if (!ok)
            {
                errors.Add(message);
            }
        }
    }
}
