using Cachier.Domain;

namespace Cachier.Manifests;


/// <summary>
/// Every manifest of Cachier, built from one list of watched kinds (<c>cachier manifests</c>): the function's and the
/// warmer's Knative Services, ServiceAccounts, ClusterRoles and bindings, and their ApiServerSources and PingSources.
/// Pure: no I/O.
/// </summary>
public static partial class ManifestSet
{
    /// <summary>The parts, in apply order; each is one file of <c>knative/</c> and applies on its own.</summary>
    public static readonly string[] Parts = ["service", "apiserversource", "warmer"];

    private const string Name = "cachier";
    private const string SourceName = "cachier-source";
    private const string WarmerName = "cachier-warmer";
    private const string WarmerSourceName = "cachier-warmer-source";

    /// <summary>The documents of one part, its namespace first.</summary>
    public static IReadOnlyList<YamlDocument> Documents(string part, ManifestOptions o) => part switch
    {
        "service" => Service(o),
        "apiserversource" => Sources(o),
        "warmer" => Warmer(o),
        _ => throw new ArgumentException($"unknown part '{part}'; the parts are {string.Join(", ", Parts)}", nameof(part)),
    };

    /// <summary>The comment at the top of a part's file: what it holds and how to apply it.</summary>
    public static string Description(string part) => part switch
    {
        "service" => """
            Cachier: the function itself (Knative Serving) and the least privilege it needs: namespace, RBAC, Knative Service.
            Needs Knative Serving and Knative's image cache CRD (images.caching.internal.knative.dev, shipped with it).
            The event sources that feed it are in the part "apiserversource" (knative/apiserversource.yaml).
            A missing rule shows up as a 403: a 500 answer and an error log in Cachier, or an ApiServerSource that is
            not Ready (SufficientPermissions=False).
            """,
        "apiserversource" => """
            The events that drive Cachier (Knative Eventing), sent to the Knative Service of the part "service":
              - ApiServerSource "cachier": a reference to every watched workload that is added, updated or deleted;
              - PingSource "cachier-resync": a full resync every 5 minutes, for what the watch cannot deliver
                (objects that existed before the source started, events dropped after the sink's retries).
            """,
        "warmer" => """
            The warmer (SPEC section 11): Cachier's Image implementation. The same image as the part "service", run with
            Cachier__Role=warmer as its own Knative Service and ServiceAccount. For every Image in the cluster (Cachier's and
            Knative Serving's own per-revision Images) it makes the kubelet of every node that could run the owner's pods
            pull the image, through short-lived pull pods, and reports that in the Image's status (condition Ready).

            What it costs a cluster: a pull pod per (namespace, pull credentials, node) with missing images, at most
            Cachier__Warmer__MaxPullPodsPerNode per node and Cachier__Warmer__MaxPullPods in all, each asking 5m CPU and
            8Mi per container and deleted when its pulls finish; registry traffic of one pull per image per node (what the
            workload's first pod on that node would have pulled anyway); per pass 3 LISTs (nodes, pull pods, Images) plus one
            GET per distinct owner plus the writes that changed something; once nothing pulls, a node's event costs one GET
            of that node, and a pass only if something the warmer reads of it changed.
            """,
        _ => throw new ArgumentException($"unknown part '{part}'", nameof(part)),
    };

    /// <summary><c>Kind.version.group</c>, with <c>/plural</c> only where the plural is not the guessed one: what Cachier__Resources holds.</summary>
    public static string Spec(ResourceKind k) =>
        (k.Group.Length == 0 ? $"{k.Kind}.{k.Version}" : $"{k.Kind}.{k.Version}.{k.Group}")
        + (k.Plural == ResourceKind.GuessPlural(k.Kind) ? "" : "/" + k.Plural);

    /// <summary>One rule per API group, in the order the kinds are listed: <paramref name="verbs"/> on <c>plural + suffix</c>.</summary>
    public static IEnumerable<YamlMap> Rules(IEnumerable<ResourceKind> kinds, string[] verbs, string suffix = "") =>
        kinds.GroupBy(k => k.Group).Select(g => Rule(g.Key, g.Select(k => k.Plural + suffix).Distinct(), verbs));

    public static string ServiceAudience(string ns, string service) => $"serving.knative.dev/service/{ns}/{service}";

    /// <summary>The OIDC identity Knative Eventing gives a source (<c>&lt;source&gt;-oidc-&lt;group&gt;-&lt;kind&gt;</c>).</summary>
    public static string SourceIdentity(string ns, string source, string kind) =>
        $"system:serviceaccount:{ns}:{source}-oidc-sources.knative.dev-{kind}";
}
