namespace Cachier.Manifests;

/// <summary>The part "warmer": the warmer's RBAC, Knative Service and sources.</summary>
public static partial class ManifestSet
{
    private static List<YamlDocument> Warmer(ManifestOptions o)
    {
        var ns = o.Namespace;
        var rules = new YamlSeq
        {
            { Rule("", ["nodes"], ["get", "list"]), "Listed by a pass; one node read again on its event after a settled pass." },
            { Rule("", ["pods"], ["list", "create", "delete"]), "Pull pods: listed cluster-wide by label, created in the Image's namespace, deleted when done." },
            Rule(ApiAccess.ImagesGroup, ["images"], ["list"]),
            Rule(ApiAccess.ImagesGroup, ["images/status"], ["patch"]),
        };
        var first = true;
        foreach (var rule in Rules(o.Kinds.Where(k => k.Group != "serving.knative.dev" || k.Plural != "revisions"), ApiAccess.WarmerOwnerVerbs)
            .Append(Rule("serving.knative.dev", ["revisions"], ApiAccess.WarmerOwnerVerbs)))
        {
            rules.Add(rule, first
                ? "The Images' owners (the watched kinds and Knative Serving's Revisions), read for their pods' scheduling\n(node selector, affinity, tolerations). An owner the warmer may not read is not an error: its Images go to every\nReady, schedulable node without taints."
                : null);
            first = false;
        }

        var podSelector = new YamlMap { { "matchLabels", new YamlMap { { "app.kubernetes.io/managed-by", WarmerName } } } };
        return
        [
            Namespace(ns),
            new(null, ServiceAccount(WarmerName, ns, WarmerName)),
            new("""
                Exactly the calls the warmer sends (function/Kubernetes/KubeApi.Warm.cs). No Secrets (the kubelet reads the
                pull secrets a pull pod names), no pods/exec, no nodes/proxy, no container runtime socket.
                """.TrimEnd(),
                ClusterRole(WarmerName, WarmerName, ns, rules)),
            new(null, ClusterRoleBinding(WarmerName, WarmerName, WarmerName, ns)),
            new("Sender authentication (SPEC section 6), as for Cachier: the warmer reads the cluster's\nservice-account issuer keys from the API server's OIDC discovery paths.",
                IssuerDiscoveryBinding($"{WarmerName}-issuer-discovery", WarmerName, WarmerName, ns)),
            new(null, KnativeService(o, WarmerName, WarmerName,
                annotations: new YamlMap
                {
                    { "autoscaling.knative.dev/min-scale", "0" },
                    { "autoscaling.knative.dev/max-scale", "2", "Passes coalesce within a replica; one replica is enough, two ride out a restart." },
                    { "autoscaling.knative.dev/target", "50" },
                },
                timeout: (60, "A pass never waits for a pull: it creates or deletes pull pods and answers."),
                env: new YamlSeq
                {
                    Env("Cachier__Role", "warmer"),
                    {
                        Env("Cachier__Authentication__Audience", ServiceAudience(ns, WarmerName)),
                        "Who may send events: the warmer's own two sources below, by their OIDC identities (see the\nfunction's Service on authentication-oidc and how Knative names them). A forged event can at most\ncause one more pass (the warmer is level-based), but it is refused all the same."
                    },
                    Env("Cachier__Authentication__AllowedSubjects",
                        $"{SourceIdentity(ns, WarmerName, "apiserversource")},{SourceIdentity(ns, $"{WarmerName}-resync", "pingsource")}"),
                    {
                        Env("Cachier__Warmer__HelperImage", "busybox:1.36-musl"),
                        "The pull pods' init container copies a static no-op (busybox's \"true\") from this image; pin it by digest\nin production. It must be pullable on every node (a public or node-credentialed registry)."
                    },
                    Env("Cachier__Warmer__MaxPullPodsPerNode", "2"),
                    Env("Cachier__Warmer__MaxPullPods", "20"),
                    {
                        Env("SSL_CERT_FILE", "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"),
                        "As for the function (its Service says why). Optional: warm only the Images with some labels,\nfor example Cachier's own: Cachier__Warmer__ImageSelector=app.kubernetes.io/managed-by=cachier."
                    },
                    Env("SSL_CERT_DIR", "/nonexistent"),
                },
                memoryComment: "A pass holds the cluster's Images, nodes and pull pods in memory (a few hundred bytes each).")),
            new("The events that drive the warmer: every Image, every Node and the warmer's own pull pods (by label).",
                ServiceAccount(WarmerSourceName, ns, WarmerName)),
            new(null, ClusterRole(WarmerSourceName, WarmerName, ns, new YamlSeq
            {
                Rule(ApiAccess.ImagesGroup, ["images"], ApiAccess.SourceVerbs),
                Rule("", ["nodes", "pods"], ApiAccess.SourceVerbs),
            })),
            new(null, ClusterRoleBinding(WarmerSourceName, WarmerSourceName, WarmerName, ns)),
            new(null, Resource("sources.knative.dev/v1", "ApiServerSource", WarmerName, ns, WarmerName, new YamlMap
            {
                { "mode", "Reference", "The warmer is level-based: an event only says \"look again\"; Reference mode keeps events small." },
                { "namespaceSelector", new YamlMap() },
                {
                    "resources", new YamlSeq
                    {
                        new YamlMap { { "apiVersion", "caching.internal.knative.dev/v1alpha1" }, { "kind", "Image" } },
                        new YamlMap { { "apiVersion", "v1" }, { "kind", "Node" } },
                        new YamlMap { { "apiVersion", "v1" }, { "kind", "Pod" }, { "selector", podSelector } },
                    }
                },
                { "serviceAccountName", WarmerSourceName },
                { "sink", Sink(ns, WarmerName) },
            })),
            new("A full pass every 5 minutes: retries after backoff, nodes whose image list changed, lost events.",
                PingSource($"{WarmerName}-resync", ns, WarmerName, WarmerName, "periodic warm pass")),
        ];
    }
}
