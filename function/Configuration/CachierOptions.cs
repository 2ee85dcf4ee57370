using Microsoft.Extensions.Options;

namespace Cachier.Configuration;

/// <summary>Configuration section <c>Cachier</c> (environment variables <c>Cachier__...</c>).</summary>
public sealed class CachierOptions
{
    public const string Section = "Cachier";

    /// <summary>
    /// The options, bound from the configuration and validated, once: the one instance the early connection, Kestrel,
    /// logging and the services read. An invalid value stops the start here, naming it.
    /// </summary>
    /// <exception cref="OptionsValidationException">a value is invalid.</exception>
    public static CachierOptions Bind(IConfiguration config)
    {
        var options = config.GetSection(Section).Get<CachierOptions>() ?? new CachierOptions();

        // A single scalar (Cachier__Resources=a,b) lists several kinds.
        if (config[$"{Section}:Resources"] is { Length: > 0 } scalar)
        {
            options.Resources = [scalar];
        }

        if (config[$"{Section}:Authentication:AllowedSubjects"] is { Length: > 0 } subjects)
        {
            options.Authentication.AllowedSubjects = [subjects];
        }

        // Dapr's sidecar hands the app its API token in APP_API_TOKEN (unprefixed, as Dapr names it).
        options.Authentication.DaprApiToken ??= config[SenderAuthenticationSettings.DaprTokenVariable];
        var result = new CachierOptionsValidator().Validate(null, options);
        return result.Failed ? throw new OptionsValidationException(Section, typeof(CachierOptions), result.Failures) : options;
    }

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

    /// <summary>How long a memo entry stands in for a LIST: past it the next event lists and repairs again.</summary>
    public TimeSpan MemoTtl { get; set; } = TimeSpan.FromMinutes(5);

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

    /// <summary>
    /// How long an owner's scheduling, once read, serves the passes after it (0: every pass reads every owner). Passes
    /// come in bursts (each pull pod's and node's status change is one), and no trigger of the warmer follows an
    /// owner's change anyway: a changed node selector is seen by the first pass after this, at the latest the ping's.
    /// </summary>
    public TimeSpan OwnerCacheTtl { get; set; } = TimeSpan.FromSeconds(30);
}
