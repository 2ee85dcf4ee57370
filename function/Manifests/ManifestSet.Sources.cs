namespace Cachier.Manifests;

/// <summary>The part "apiserversource": the ApiServerSource and PingSource that drive the function.</summary>
public static partial class ManifestSet
{
    private static List<YamlDocument> Sources(ManifestOptions o)
    {
        var ns = o.Namespace;
        var resources = new YamlSeq();
        foreach (var k in o.Kinds)
        {
            resources.Add(new YamlMap { { "apiVersion", k.ApiVersion }, { "kind", k.Kind } },
                IsCronJobV1(k)
                    ? "batch/v1 CronJob needs Kubernetes >= 1.21; on older clusters leave it out of --resource\n(the adapter cannot watch a version the API server does not serve)."
                    : null);
        }

        var rules = new YamlSeq();
        foreach (var rule in Rules(o.Kinds, ApiAccess.SourceVerbs))
        {
            rules.Add(rule);
        }

        return
        [
            Namespace(ns),
            new("""
                The identity of the ApiServerSource's receive adapter: it lists and watches the watched kinds in
                every namespace (Knative checks get, list and watch with SubjectAccessReviews before it starts the
                adapter). Nothing else; it never reads the objects' contents for Cachier (mode Reference).
                """.TrimEnd(),
                ServiceAccount(SourceName, ns, Name)),
            new(null, ClusterRole(SourceName, Name, ns, rules)),
            new(null, ClusterRoleBinding(SourceName, SourceName, Name, ns)),
            new(null, Resource("sources.knative.dev/v1", "ApiServerSource", Name, ns, Name, new YamlMap
            {
                {
                    "mode", "Reference",
                    "Reference mode: the event names the object (apiVersion, kind, namespace, name) and Cachier GETs\nthe current state. Events stay small, and a redelivered or late event never carries old state."
                },
                { "namespaceSelector", new YamlMap(), "An empty selector: every namespace, watched cluster-wide (the ClusterRole above)." },
                {
                    "resources", resources,
                    "No \"owner\" filter on purpose: it would keep only objects owned by a controller, the opposite of\nCachier's rule (controlled objects are skipped unless annotated, SPEC section 3)."
                },
                { "serviceAccountName", SourceName },
                {
                    "sink", Sink(ns, Name),
                    "With Knative Eventing's authentication-oidc on, the adapter sends a token for the sink's audience;\nCachier accepts only that audience (Cachier__Authentication__Audience)."
                },
            })),
            new("""
                Backfill and drift repair (SPEC section 7). The ping goes to POST /, like every other event:
                Cachier handles the event type dev.knative.sources.ping as a full resync (the same as POST /resync),
                so the sink stays a plain reference to the Service and still works if the events are later routed
                through a Broker and Trigger, where a path on the sink would be lost. POST /resync is for people
                (curl) and scripts.
                """.TrimEnd(),
                PingSource($"{Name}-resync", ns, Name, Name, "periodic resync")),
        ];
    }
}
