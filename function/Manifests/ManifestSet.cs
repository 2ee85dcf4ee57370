using Cachier.Domain;

namespace Cachier.Manifests;

/// <summary>What the manifests are made from: the watched kinds, the image and the namespace.</summary>
public sealed record ManifestOptions(IReadOnlyList<ResourceKind> Kinds, string Image, string Namespace)
{
    public const string DefaultImage = "registry.example.com/cachier:latest";
    public const string DefaultNamespace = "cachier-system";
}

/// <summary>
/// The API access of each role, one list per role: what the ClusterRoles grant. Each entry is a call the code sends
/// (Cachier.Tests compares these with the calls the app makes against a fake API server, and with the API server's
/// own authorizer), plus the one grant that is not a call: <c>update</c> on the owner's <c>finalizers</c>, which the
/// <c>OwnerReferencesPermissionEnforcement</c> admission plugin asks of whoever sets <c>blockOwnerDeletion</c>.
/// </summary>
public static class ApiAccess
{
    public const string ImagesGroup = "caching.internal.knative.dev";

    /// <summary>Cachier on the watched kinds: GET the workload an event names, LIST each kind in a resync.</summary>
    public static readonly string[] WorkloadVerbs = ["get", "list"];

    /// <summary>
    /// Cachier on Images: LIST (per workload and cluster-wide), GET (re-read after a 409), create, merge-patch,
    /// delete with preconditions. Never update (PUT) nor deletecollection.
    /// </summary>
    public static readonly string[] ImageVerbs = ["get", "list", "create", "patch", "delete"];

    /// <summary>
    /// Cachier sets <c>blockOwnerDeletion</c> on the Image's owner reference (SPEC section 4): a foreground deletion of the
    /// workload then waits until its Images are gone, as Kubernetes' own controllers do for what they own. Where the
    /// OwnerReferencesPermissionEnforcement admission plugin is on (OpenShift), that takes <c>update</c> on
    /// <c>&lt;kind&gt;/finalizers</c> of the owner; no API path serves that subresource for the workload kinds, so the
    /// grant allows nothing else.
    /// </summary>
    public static readonly string[] OwnerFinalizerVerbs = ["update"];

    /// <summary>
    /// Cachier on core/v1 Events: create one on a workload it changed (or could not), patch its count and lastTimestamp
    /// when the same note repeats (aggregation, as client-go's recorder does). Never get, list, update or delete.
    /// </summary>
    public static readonly string[] EventVerbs = ["create", "patch"];

    /// <summary>The ApiServerSource's receive adapter: what Knative checks before it starts it.</summary>
    public static readonly string[] SourceVerbs = ["get", "list", "watch"];

    /// <summary>The warmer on the Images' owners: GET for their pods' scheduling.</summary>
    public static readonly string[] WarmerOwnerVerbs = ["get"];
}

/// <summary>
/// Every manifest of Cachier, built from one list of watched kinds (<c>cachier manifests</c>): the function's and the
/// warmer's Knative Services, ServiceAccounts, ClusterRoles and bindings, and their ApiServerSources and PingSources.
/// Pure: no I/O.
/// </summary>
public static class ManifestSet
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
            GET per distinct owner plus the writes that changed something.
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

    private static List<YamlDocument> Service(ManifestOptions o)
    {
        var ns = o.Namespace;
        var imageRule = Rule(ApiAccess.ImagesGroup, ["images"], ApiAccess.ImageVerbs);
        var rules = new YamlSeq();
        var first = true;
        foreach (var rule in Rules(o.Kinds, ApiAccess.WorkloadVerbs))
        {
            rules.Add(rule, first ? "The watched kinds (Cachier__Resources below)." : null);
            first = false;
        }

        first = true;
        foreach (var rule in Rules(o.Kinds, ApiAccess.OwnerFinalizerVerbs, "/finalizers"))
        {
            rules.Add(rule, first
                ? """
                  Cachier sets blockOwnerDeletion on each Image's owner reference (a foreground deletion of the workload then
                  waits for its Images). Clusters with the OwnerReferencesPermissionEnforcement admission plugin (OpenShift)
                  allow that only to who may update the owner's finalizers. No API path serves <kind>/finalizers for these
                  kinds: this grants nothing else.
                  """.TrimEnd()
                : null);
            first = false;
        }

        rules.Add(imageRule, "The Images Cachier keeps (Knative's image cache): exactly the calls it sends, no update (PUT), no deletecollection.");
        rules.Add(Rule("", ["events"], ApiAccess.EventVerbs),
            "Events on the workloads (kubectl describe): created when Cachier changed Images or could not, patched when one repeats.");

        return
        [
            Namespace(ns),
            new(null, ServiceAccount(Name, ns, Name)),
            new("""
                What Cachier does with the API (SPEC section 10): it reads the workload an event names (get) and lists every
                watched kind in a resync (list, cluster-wide); it reads, creates, patches and deletes Images. No watch
                (the ApiServerSource watches for it), no Secrets, no wildcards: the original cachier ran as cluster-admin.
                """.TrimEnd(),
                ClusterRole(Name, Name, rules)),
            new(null, ClusterRoleBinding(Name, Name, Name, ns)),
            new("""
                Sender authentication (SPEC section 6): Cachier checks the sources' tokens against the public keys
                of the cluster's service-account issuer, which it reads (and caches) from the API server's OIDC
                discovery paths /.well-known/openid-configuration and /openid/v1/jwks. Kubernetes ships this
                ClusterRole (nonResourceURLs, read only) but binds it to nobody by default.
                """.TrimEnd(),
                IssuerDiscoveryBinding($"{Name}-issuer-discovery", Name, Name, ns)),
            new(null, KnativeService(o, Name, Name,
                annotations: new YamlMap
                {
                    { "autoscaling.knative.dev/min-scale", "0", "Scale to zero between bursts of events; a cold start of the Native AOT binary is ~0.2 s." },
                    { "autoscaling.knative.dev/max-scale", "3", "Each replica reconciles in parallel; more replicas mostly add load on the API server." },
                    {
                        "autoscaling.knative.dev/target", "50",
                        "Soft target of in-flight events per replica. An event is a GET and a LIST (I/O bound), so\none replica absorbs a burst such as a rollout of many Deployments."
                    },
                },
                timeout: (300, "A full resync (PingSource, every 5 minutes) answers when it is done; it must finish within this."),
                env: FunctionEnv(o),
                memoryComment: "Headroom for a resync, which indexes the cluster's Images (a few hundred bytes\neach). The .NET GC sizes its heap from this limit.")),
        ];
    }

    private static YamlSeq FunctionEnv(ManifestOptions o)
    {
        var ns = o.Namespace;
        return new YamlSeq
        {
            {
                Env("Cachier__Resources", string.Join(',', o.Kinds.Select(Spec))),
                """
                The watched kinds, Kind.version.group[/plural], comma-separated. Generated together with the
                ClusterRoles and the ApiServerSource from one list: change it with `cachier manifests --resource=...`.
                """.TrimEnd() + (o.Kinds.Any(IsCronJobV1) ? "\nOn Kubernetes < 1.21 (no batch/v1 CronJob) Cachier logs and skips CronJob.v1.batch." : "")
            },
            {
                Env("Cachier__Authentication__Audience", ServiceAudience(ns, Name)),
                """
                Who may send events (README, "Threat model"). Knative Eventing's feature authentication-oidc
                must be enabled: each source then sends "Authorization: Bearer <token>" for the audience of
                its spec.sink.audience (the part "apiserversource"), as its own OIDC ServiceAccount, which
                Knative names <source>-oidc-<group>-<kind> (older releases: oidc-<group>-<kind>-<source>;
                read it from the source's status.auth.serviceAccountName). Any other sender gets 401 or 403.
                """.TrimEnd()
            },
            Env("Cachier__Authentication__AllowedSubjects",
                $"{SourceIdentity(ns, Name, "apiserversource")},{SourceIdentity(ns, $"{Name}-resync", "pingsource")}"),
            {
                Env("SSL_CERT_FILE", "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"),
                """
                Cachier's only TLS peer is the API server, and it trusts only the cluster's CA (the
                ServiceAccount's ca.crt) for it. Pointing OpenSSL's default trust store at that file too keeps
                .NET from loading and parsing the image's whole CA bundle on the first handshake: about 50 ms of
                every cold start (bench/RESULTS.md, section 3). Remove both if Cachier is ever given a peer
                outside the cluster. Other settings: README, "Configure" (Cachier__ExcludedNamespaces__0, ...).
                """.TrimEnd()
            },
            Env("SSL_CERT_DIR", "/nonexistent"),
        };
    }

    private static bool IsCronJobV1(ResourceKind k) => k is { Group: "batch", Version: "v1", Kind: "CronJob" };

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
            new(null, ClusterRole(SourceName, Name, rules)),
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

    private static List<YamlDocument> Warmer(ManifestOptions o)
    {
        var ns = o.Namespace;
        var rules = new YamlSeq
        {
            Rule("", ["nodes"], ["list"]),
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
                ClusterRole(WarmerName, WarmerName, rules)),
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
            new(null, ClusterRole(WarmerSourceName, WarmerName, new YamlSeq
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

    private static YamlDocument Namespace(string ns) => new(
        """
        Repeated in each part, so that each applies on its own. Labelled for the "restricted" Pod Security profile
        (Kubernetes >= 1.23 enforces it; older clusters ignore the label): Cachier's pods, Knative's queue-proxy and the
        sources' receive adapters meet it.
        """.TrimEnd(),
        new YamlMap
        {
            { "apiVersion", "v1" },
            { "kind", "Namespace" },
            {
                "metadata", new YamlMap
                {
                    { "name", ns },
                    {
                        "labels", new YamlMap
                        {
                            { "app.kubernetes.io/name", Name },
                            { "app.kubernetes.io/part-of", Name },
                            { "pod-security.kubernetes.io/enforce", "restricted" },
                        }
                    },
                }
            },
        });

    private static YamlMap Metadata(string name, string? ns, string app, YamlMap? moreLabels = null)
    {
        var labels = new YamlMap { { "app.kubernetes.io/name", app }, { "app.kubernetes.io/part-of", Name } };
        foreach (var (key, value, comment) in moreLabels ?? [])
        {
            labels.Add(key, value, comment);
        }

        var meta = new YamlMap { { "name", name } };
        if (ns is not null)
        {
            meta.Add("namespace", ns);
        }

        meta.Add("labels", labels);
        return meta;
    }

    private static YamlMap Resource(string apiVersion, string kind, string name, string? ns, string app, YamlMap spec) => new()
    {
        { "apiVersion", apiVersion },
        { "kind", kind },
        { "metadata", Metadata(name, ns, app) },
        { "spec", spec },
    };

    private static YamlMap ServiceAccount(string name, string ns, string app) => new()
    {
        { "apiVersion", "v1" },
        { "kind", "ServiceAccount" },
        { "metadata", Metadata(name, ns, app) },
    };

    private static YamlMap ClusterRole(string name, string app, YamlSeq rules) => new()
    {
        { "apiVersion", "rbac.authorization.k8s.io/v1" },
        { "kind", "ClusterRole" },
        { "metadata", Metadata(name, null, app) },
        { "rules", rules },
    };

    private static YamlMap Rule(string group, IEnumerable<string> resources, string[] verbs) => new()
    {
        { "apiGroups", new YamlSeq([group]) },
        { "resources", new YamlSeq(resources) },
        { "verbs", new YamlSeq(verbs) },
    };

    private static YamlMap ClusterRoleBinding(string name, string role, string app, string ns) =>
        Binding(name, role, app, ns, name);

    private static YamlMap IssuerDiscoveryBinding(string name, string serviceAccount, string app, string ns) =>
        Binding(name, "system:service-account-issuer-discovery", app, ns, serviceAccount);

    private static YamlMap Binding(string name, string role, string app, string ns, string serviceAccount) => new()
    {
        { "apiVersion", "rbac.authorization.k8s.io/v1" },
        { "kind", "ClusterRoleBinding" },
        { "metadata", Metadata(name, null, app) },
        { "roleRef", new YamlMap { { "apiGroup", "rbac.authorization.k8s.io" }, { "kind", "ClusterRole" }, { "name", role } } },
        { "subjects", new YamlSeq { new YamlMap { { "kind", "ServiceAccount" }, { "name", serviceAccount }, { "namespace", ns } } } },
    };

    private static YamlMap Sink(string ns, string service) => new()
    {
        {
            "ref", new YamlMap
            {
                { "apiVersion", "serving.knative.dev/v1" },
                { "kind", "Service" },
                { "name", service },
                { "namespace", ns },
            }
        },
        { "audience", ServiceAudience(ns, service) },
    };

    private static YamlMap PingSource(string name, string ns, string app, string service, string reason) =>
        Resource("sources.knative.dev/v1", "PingSource", name, ns, app, new YamlMap
        {
            { "schedule", "*/5 * * * *" },
            {
                "contentType", "application/json",
                "A small JSON body, so the binary-mode request carries a Content-Type (an event without data\nwould arrive with none)."
            },
            { "data", $$"""{"reason":"{{reason}}"}""" },
            { "sink", Sink(ns, service), "The same audience as the ApiServerSource's: only the Service's own." },
        });

    private static YamlMap Env(string name, string value) => new() { { "name", name }, { "value", value } };

    /// <summary>
    /// A Knative Service running the one image; the function's and the warmer's differ in name, scale, timeout and env.
    /// The pod template's shape is also what the node tests run as a plain Deployment.
    /// </summary>
    private static YamlMap KnativeService(ManifestOptions o, string name, string serviceAccount, YamlMap annotations,
        (long Seconds, string Why) timeout, YamlSeq env, string memoryComment)
    {
        var container = new YamlMap
        {
            { "name", Name },
            {
                "image", o.Image,
                o.Image == ManifestOptions.DefaultImage
                    ? "Placeholder: generate with --image=<your registry>/cachier@sha256:<digest> (README, \"Deploy on Knative\").\nKnative resolves a tag to a digest per Revision; a digest pins it here."
                    : "The image, by digest (Knative resolves a tag to a digest per Revision anyway)."
            },
            {
                "ports", new YamlSeq { new YamlMap { { "name", "http1" }, { "containerPort", 8080 } } },
                "Knative sets $PORT to this port; Cachier listens on $PORT (PORT itself is reserved by Knative)."
            },
            { "env", env },
            {
                "readinessProbe", new YamlMap { { "httpGet", new YamlMap { { "path", "/health/readiness" } } } },
                "No periodSeconds: Knative's queue-proxy then probes aggressively at start (fast cold start)."
            },
            {
                "livenessProbe", new YamlMap
                {
                    { "httpGet", new YamlMap { { "path", "/health/liveness" } } },
                    { "periodSeconds", 10 },
                    { "timeoutSeconds", 2 },
                    { "failureThreshold", 3 },
                }
            },
            {
                "resources", new YamlMap
                {
                    { "requests", new YamlMap { { "cpu", "50m" }, { "memory", "64Mi", "Idle RSS of the Native AOT binary is ~33 MiB (bench/RESULTS.md, section 4)." } } },
                    { "limits", new YamlMap { { "memory", "256Mi", memoryComment }, { "cpu", "1" } } },
                }
            },
            {
                "securityContext", new YamlMap
                {
                    { "runAsNonRoot", true, "The image runs as a numeric non-root user; the binary writes nothing to disk." },
                    { "readOnlyRootFilesystem", true },
                    { "allowPrivilegeEscalation", false },
                    { "capabilities", new YamlMap { { "drop", new YamlSeq(["ALL"]) } } },
                    { "seccompProfile", new YamlMap { { "type", "RuntimeDefault" } } },
                }
            },
        };

        var spec = new YamlMap
        {
            { "serviceAccountName", serviceAccount },
            { "containerConcurrency", 0, "No hard limit on concurrent requests per replica (the autoscaler works on the target above)." },
            { "timeoutSeconds", timeout.Seconds, timeout.Why },
            { "enableServiceLinks", false },
            { "containers", new YamlSeq { container } },
        };

        var serviceLabels = new YamlMap
        {
            {
                "networking.knative.dev/visibility", "cluster-local",
                "No public route: only senders inside the cluster (the sources' adapters) reach\nhttp://" + name + "." + o.Namespace + ".svc.cluster.local."
            },
        };
        return new YamlMap
        {
            { "apiVersion", "serving.knative.dev/v1" },
            { "kind", "Service" },
            { "metadata", Metadata(name, o.Namespace, name, serviceLabels) },
            {
                "spec", new YamlMap
                {
                    {
                        "template", new YamlMap
                        {
                            {
                                "metadata", new YamlMap
                                {
                                    { "labels", new YamlMap { { "app.kubernetes.io/name", name } } },
                                    { "annotations", annotations },
                                }
                            },
                            { "spec", spec },
                        }
                    },
                }
            },
        };
    }
}
