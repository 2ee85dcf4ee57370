namespace Cachier.Manifests;

/// <summary>The Kubernetes objects the parts are made of: namespace, metadata, RBAC, sources.</summary>
public static partial class ManifestSet
{
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

    /// <summary>
    /// The name of a cluster-scoped object of the install in <paramref name="ns"/>: suffixed with the namespace outside the
    /// default one, so that a second install in another namespace does not take over the first one's ClusterRoles.
    /// </summary>
    private static string ClusterScoped(string name, string ns) =>
        ns == ManifestOptions.DefaultNamespace || name.StartsWith("system:", StringComparison.Ordinal) ? name : $"{name}-{ns}";

    private static YamlMap ClusterRole(string name, string app, string ns, YamlSeq rules) => new()
    {
        { "apiVersion", "rbac.authorization.k8s.io/v1" },
        { "kind", "ClusterRole" },
        { "metadata", Metadata(ClusterScoped(name, ns), null, app) },
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
        { "metadata", Metadata(ClusterScoped(name, ns), null, app) },
        { "roleRef", new YamlMap { { "apiGroup", "rbac.authorization.k8s.io" }, { "kind", "ClusterRole" }, { "name", ClusterScoped(role, ns) } } },
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
}
