using System.Text.RegularExpressions;
using Cachier.Domain;
using Cachier.Security;
using Microsoft.Extensions.Options;

namespace Cachier;

/// <summary>Configuration section <c>Cachier</c> (environment variables <c>Cachier__...</c>).</summary>
public sealed class CachierOptions
{
    public const string Section = "Cachier";

    public static readonly string[] DefaultResources =
    [
        "Deployment.v1.apps", "ReplicaSet.v1.apps", "StatefulSet.v1.apps",
        "DaemonSet.v1.apps", "Job.v1.batch", "CronJob.v1.batch",
    ];

    /// <summary>Watched kinds as <c>Kind.version.group[/plural]</c>; a single value may list several, comma-separated.</summary>
    public List<string> Resources { get; set; } = [];

    public List<string> ExcludedNamespaces { get; set; } = [];

    /// <summary>Regular expressions; when any is given, only matching images are cached.</summary>
    public List<string> IncludeImages { get; set; } = [];

    /// <summary>Regular expressions; matching images are never cached.</summary>
    public List<string> ExcludeImages { get; set; } = [];

    public long MaxRequestBodyBytes { get; set; } = 3 * 1024 * 1024;

    /// <summary>Workloads reconciled at once during a resync.</summary>
    public int ResyncParallelism { get; set; } = 8;

    /// <summary>The <c>limit</c> of every paginated LIST.</summary>
    public int ResyncPageSize { get; set; } = 500;

    /// <summary>Bound of the desired-state memo (workloads); 0 turns it off.</summary>
    public int MemoCapacity { get; set; } = 50_000;

    /// <summary>Timeout of each call to the API server.</summary>
    public TimeSpan ApiTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Retries of a call that met a transient failure (no answer, 429, 5xx), with jittered backoff.</summary>
    public int ApiRetries { get; set; } = 2;

    /// <summary>Deadline for handling one request; shorter than Knative's request timeout. Past it: 503.</summary>
    public TimeSpan RequestDeadline { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>A resync still running after this is answered 202 <c>running</c> and goes on; below Knative's timeoutSeconds (300).</summary>
    public TimeSpan ResyncAnswerWithin { get; set; } = TimeSpan.FromSeconds(270);

    /// <summary>Seconds a sender is told to wait (Retry-After) after a transient API failure.</summary>
    public int RetryAfterSeconds { get; set; } = 1;

    /// <summary>Path of a kubeconfig; default <c>$KUBECONFIG</c>, then <c>~/.kube/config</c>. Ignored in-cluster.</summary>
    public string? Kubeconfig { get; set; }

    /// <summary>Plain URL of an API server that needs no credentials (<c>kubectl proxy</c>, tests); overrides the rest.</summary>
    public string? ApiServerUrl { get; set; }

    /// <summary><c>json</c> (default: one JSON object per line) or <c>simple</c> (one readable line).</summary>
    public string LogFormat { get; set; } = "json";

    /// <summary><c>images</c> (default): write Images for workloads; <c>warmer</c>: pull the Images' images onto the nodes (SPEC 11).</summary>
    public string Role { get; set; } = RoleImages;

    public const string RoleImages = "images";
    public const string RoleWarmer = "warmer";

    public WarmerOptions Warmer { get; set; } = new();

    public string? DaprPubSubName { get; set; }

    public string? DaprTopic { get; set; }

    /// <summary>Where Dapr moves a delivery answered DROP (it can never succeed); default <c>&lt;DaprTopic&gt;-deadletter</c>.</summary>
    public string? DaprDeadLetterTopic { get; set; }

    /// <summary>Who may send events (SPEC section 6, "Who may call"): section <c>Cachier:Authentication</c>.</summary>
    public SenderAuthenticationOptions Authentication { get; set; } = new();

    /// <summary>
    /// Use the object a Resource-mode event carries instead of GETting it. Off by default: anything that reaches the
    /// Service could have written that object. Refused at start unless sender authentication is on.
    /// </summary>
    public bool TrustEmbeddedObjects { get; set; }

    /// <summary>Events one batch may hold; a larger batch is answered 413 before anything is handled.</summary>
    public int MaxBatchEvents { get; set; } = 100;

    /// <summary>A resync asked for within this interval of the last completed one answers that run's summary instead.</summary>
    public TimeSpan ResyncMinInterval { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Bytes of request bodies held in memory at once, over all requests; past it 503 + Retry-After.</summary>
    public long BodyMemoryBudgetBytes { get; set; } = 32 * 1024 * 1024;
}

public enum SenderAuthenticationMode
{
    /// <summary>Knative Eventing's sender identity: a service-account token of the cluster, for our audience, from an allowed subject.</summary>
    KubernetesToken,

    /// <summary>Anyone who reaches the port may send events: local runs without Knative (the demo, <c>dotnet run</c>) only.</summary>
    None,
}

/// <summary>Section <c>Cachier:Authentication</c>.</summary>
public sealed class SenderAuthenticationOptions
{
    public SenderAuthenticationMode Mode { get; set; } = SenderAuthenticationMode.KubernetesToken;

    /// <summary>The audience the sources ask their tokens for: <c>spec.sink.audience</c> of the ApiServerSource and PingSource.</summary>
    public string? Audience { get; set; }

    /// <summary>Sender identities allowed to call, <c>system:serviceaccount:NAMESPACE:NAME</c>; a single value may list several, comma-separated.</summary>
    public List<string> AllowedSubjects { get; set; } = [];

    /// <summary>The token issuer to accept; default: the issuer the API server names in its OIDC discovery document.</summary>
    public string? Issuer { get; set; }

    /// <summary>Clock difference tolerated on <c>exp</c> and <c>nbf</c>.</summary>
    public TimeSpan ClockSkew { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long the issuer's keys are used before they are fetched again (a removed key stops working after this).</summary>
    public TimeSpan KeysMaxAge { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>A token signed by an unknown key fetches the keys again at most this often.</summary>
    public TimeSpan KeysRefreshMinInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Dapr's app API token, which Dapr deliveries must carry (<c>dapr-api-token</c>); default: <c>APP_API_TOKEN</c>, as the sidecar sets it.</summary>
    public string? DaprApiToken { get; set; }
}

/// <summary>Section <c>Cachier:Warmer</c>: the pull pods and their bounds.</summary>
public sealed class WarmerOptions
{
    /// <summary>The image the pull pod's init container copies a static no-op program from.</summary>
    public string HelperImage { get; set; } = "busybox:1.36-musl";

    /// <summary>Copies the static no-op to <c>/warm/true</c>; default <c>/bin/cp /bin/true /warm/true</c> (busybox picks its applet by name).</summary>
    public List<string> HelperCommand { get; set; } = [];

    public long RunAsUser { get; set; } = 65532;

    /// <summary>activeDeadlineSeconds of a pull pod: a pull that takes longer fails and is retried with backoff.</summary>
    public TimeSpan PullDeadline { get; set; } = TimeSpan.FromMinutes(10);

    public int MaxPullPodsPerNode { get; set; } = 2;

    public int MaxPullPods { get; set; } = 20;

    /// <summary>Containers (images) in one pull pod.</summary>
    public int ImagesPerPod { get; set; } = 8;

    /// <summary>First wait before a failed pull is retried; doubles per failure up to <see cref="RetryBackoffMax"/>.</summary>
    public TimeSpan RetryBackoff { get; set; } = TimeSpan.FromSeconds(30);

    public TimeSpan RetryBackoffMax { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>How long a pull seen to finish counts as present while the node's image list catches up.</summary>
    public TimeSpan PulledGrace { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Label selector narrowing the Images warmed (default: every Image in the cluster).</summary>
    public string? ImageSelector { get; set; }
}

/// <summary>The options, parsed once: what the rest of the service reads.</summary>
public sealed class CachierSettings
{
    public CachierSettings(CachierOptions options)
    {
        var resources = options.Resources.SelectMany(r => r.Split([',', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();
        Kinds = (resources.Count == 0 ? CachierOptions.DefaultResources : (IEnumerable<string>)resources)
            .Select(ResourceKind.Parse)
            .DistinctBy(k => (k.ApiVersion, k.Kind))
            .ToList();
        Filters = new ImageFilters(options.IncludeImages.Select(Compile).ToList(), options.ExcludeImages.Select(Compile).ToList());
        ExcludedNamespaces = options.ExcludedNamespaces.ToHashSet(StringComparer.Ordinal);
        Options = options;
        var w = options.Warmer;
        IsWarmer = string.Equals(options.Role, CachierOptions.RoleWarmer, StringComparison.OrdinalIgnoreCase);
        Limits = new WarmLimits(w.MaxPullPodsPerNode, w.MaxPullPods, w.ImagesPerPod, w.RetryBackoff, w.RetryBackoffMax, w.PulledGrace);
        PullPodTemplate = new PullPodTemplate(w.HelperImage, w.HelperCommand.Count > 0 ? w.HelperCommand : ["/bin/cp", "/bin/true", "/warm/true"],
            w.RunAsUser, w.PullDeadline, PullPodTemplate.ScopeOf(string.IsNullOrWhiteSpace(w.ImageSelector) ? null : w.ImageSelector));
    }

    public IReadOnlyList<ResourceKind> Kinds { get; }

    public ImageFilters Filters { get; }

    public IReadOnlySet<string> ExcludedNamespaces { get; }

    public CachierOptions Options { get; }

    public bool IsWarmer { get; }

    public WarmLimits Limits { get; }

    public PullPodTemplate PullPodTemplate { get; }

    public ResourceKind? FindKind(string apiVersion, string kind) =>
        Kinds.FirstOrDefault(k => k.ApiVersion == apiVersion && k.Kind == kind);

    private static Regex Compile(string pattern)
    {
        try
        {
            return new Regex(pattern, RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100));
        }
        catch (ArgumentException e)
        {
            throw new FormatException($"image pattern '{pattern}' is not a valid regular expression: {e.Message}");
        }
    }
}

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
