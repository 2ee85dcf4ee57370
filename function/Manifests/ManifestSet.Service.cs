using Cachier.Domain;

namespace Cachier.Manifests;

/// <summary>The part "service": the function's namespace, RBAC and Knative Service.</summary>
public static partial class ManifestSet
{
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
                ClusterRole(Name, Name, ns, rules)),
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
}
