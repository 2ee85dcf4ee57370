using Cachier.Domain;
using static Cachier.Tests.DeploymentChecks.LocalClusterFixture;

namespace Cachier.Tests.DeploymentChecks;

/// <summary>
/// SPEC section 10, least privilege: the RBAC of knative/ applied for real, then asked with
/// <c>kubectl auth can-i --as=system:serviceaccount:...</c> (the API server's own authorizer decides).
/// The watched kinds come from env <c>Cachier__Resources</c> of the Knative Service, so the three lists that must
/// agree (Cachier's configuration, its ClusterRole, the ApiServerSource's ClusterRole and resources) are checked together.
/// </summary>
[Collection(LocalClusterCollection.Name)]
public sealed class RbacTests(LocalClusterFixture cluster)
{
    private const string Images = "images.caching.internal.knative.dev";
    private const string AllNamespaces = "*";
    private const string SomeNamespace = "cachier-rbac-probe";

    private static readonly string[] ImageVerbs = ["get", "list", "create", "update", "patch", "delete", "deletecollection"];

    [Theory]
    [InlineData("list", "deployments.apps", AllNamespaces)]
    [InlineData("get", "deployments.apps", SomeNamespace)]
    [InlineData("create", Images, SomeNamespace)]
    [InlineData("patch", Images, SomeNamespace)]
    [InlineData("update", Images, SomeNamespace)]
    [InlineData("delete", Images, SomeNamespace)]
    [InlineData("deletecollection", Images, SomeNamespace)]
    [InlineData("get", Images, SomeNamespace)]
    [InlineData("list", Images, SomeNamespace)]
    [InlineData("list", Images, AllNamespaces)]
    public async Task Cachier_may_read_workloads_and_keep_images(string verb, string resource, string scope) =>
        Assert.True(await CanAsync(CachierUser, verb, resource, scope), $"cachier must be allowed to {verb} {resource} in {scope}");

    [Theory]
    [InlineData("get", "secrets", SomeNamespace)]
    [InlineData("get", "secrets", Manifests.Namespace)]
    [InlineData("list", "secrets", AllNamespaces)]
    [InlineData("list", "configmaps", AllNamespaces)]
    [InlineData("create", "deployments.apps", SomeNamespace)]
    [InlineData("update", "deployments.apps", SomeNamespace)]
    [InlineData("patch", "deployments.apps", SomeNamespace)]
    [InlineData("delete", "jobs.batch", SomeNamespace)]
    [InlineData("watch", "deployments.apps", AllNamespaces)]
    [InlineData("watch", Images, AllNamespaces)]
    [InlineData("get", "pods", SomeNamespace)]
    [InlineData("create", "pods", SomeNamespace)]
    [InlineData("create", "clusterrolebindings.rbac.authorization.k8s.io", AllNamespaces)]
    [InlineData("impersonate", "serviceaccounts", AllNamespaces)]
    public async Task Cachier_may_do_nothing_else(string verb, string resource, string scope) =>
        Assert.False(await CanAsync(CachierUser, verb, resource, scope), $"cachier must NOT be allowed to {verb} {resource} in {scope}");

    [Fact]
    public async Task Cachier_may_get_and_list_every_watched_kind() =>
        await AssertAllAllowedAsync(CachierUser, ["get", "list"]);

    [Fact]
    public async Task Source_may_get_list_and_watch_every_watched_kind() =>
        await AssertAllAllowedAsync(SourceUser, ["get", "list", "watch"]);

    [Theory]
    [InlineData("create", "deployments.apps", SomeNamespace)]
    [InlineData("delete", "replicasets.apps", SomeNamespace)]
    [InlineData("get", "secrets", AllNamespaces)]
    [InlineData("list", "configmaps", AllNamespaces)]
    [InlineData("list", Images, AllNamespaces)]
    [InlineData("create", Images, SomeNamespace)]
    public async Task Source_may_only_watch(string verb, string resource, string scope) =>
        Assert.False(await CanAsync(SourceUser, verb, resource, scope), $"cachier-source must NOT be allowed to {verb} {resource} in {scope}");

    /// <summary>The rules as written: exactly the watched kinds (get, list) and Images (seven verbs); no wildcard, nothing else.</summary>
    [Fact]
    public void Cachier_cluster_role_grants_exactly_the_watched_kinds_and_images()
    {
        var expected = Expected(cluster.WatchedKinds, ["get", "list"]);
        expected.UnionWith(ImageVerbs.Select(v => ("caching.internal.knative.dev", "images", v)));

        var granted = Manifests.Grants(Manifests.Find(cluster.Objects, "ClusterRole", "cachier"));

        AssertSameGrants(expected, granted, "ClusterRole cachier (knative/service.yaml)");
    }

    [Fact]
    public void Source_cluster_role_grants_exactly_get_list_watch_on_the_watched_kinds()
    {
        var expected = Expected(cluster.WatchedKinds, ["get", "list", "watch"]);

        var granted = Manifests.Grants(Manifests.Find(cluster.Objects, "ClusterRole", "cachier-source"));

        AssertSameGrants(expected, granted, "ClusterRole cachier-source (knative/apiserversource.yaml)");
    }

    /// <summary>The warmer's rules as written: exactly the calls of KubeApi.Warm.cs, nothing else.</summary>
    [Fact]
    public void Warmer_cluster_role_grants_exactly_the_calls_the_warmer_sends()
    {
        var expected = new HashSet<(string, string, string)>
        {
            ("", "nodes", "list"), ("", "pods", "list"), ("", "pods", "create"), ("", "pods", "delete"),
            ("caching.internal.knative.dev", "images", "list"), ("caching.internal.knative.dev", "images/status", "patch"),
            ("serving.knative.dev", "revisions", "get"),
        };
        expected.UnionWith(Expected(cluster.WatchedKinds, ["get"]));

        var granted = Manifests.Grants(Manifests.Find(cluster.Objects, "ClusterRole", "cachier-warmer"));

        AssertSameGrants(expected, granted, "ClusterRole cachier-warmer (knative/warmer.yaml)");
    }

    [Theory]
    [InlineData("list", "nodes", AllNamespaces)]
    [InlineData("list", "pods", AllNamespaces)]
    [InlineData("create", "pods", SomeNamespace)]
    [InlineData("delete", "pods", SomeNamespace)]
    [InlineData("list", Images, AllNamespaces)]
    [InlineData("patch", Images + "/status", SomeNamespace)]
    [InlineData("get", "deployments.apps", SomeNamespace)]
    // (get revisions.serving.knative.dev is in the rules, checked above; can-i cannot ask for a kind this cluster does not serve.)
    public async Task Warmer_may_list_nodes_run_pull_pods_and_report_image_status(string verb, string resource, string scope) =>
        Assert.True(await CanAsync(WarmerUser, verb, resource, scope), $"cachier-warmer must be allowed to {verb} {resource} in {scope}");

    [Theory]
    [InlineData("get", "secrets", SomeNamespace)]
    [InlineData("list", "secrets", AllNamespaces)]
    [InlineData("create", "pods/exec", SomeNamespace)]
    [InlineData("get", "nodes/proxy", AllNamespaces)]
    [InlineData("update", "nodes", AllNamespaces)]
    [InlineData("patch", "pods", SomeNamespace)]
    [InlineData("create", Images, SomeNamespace)]
    [InlineData("patch", Images, SomeNamespace)]
    [InlineData("delete", Images, SomeNamespace)]
    [InlineData("create", "serviceaccounts/token", SomeNamespace)]
    [InlineData("list", "deployments.apps", AllNamespaces)]
    public async Task Warmer_may_do_nothing_else(string verb, string resource, string scope) =>
        Assert.False(await CanAsync(WarmerUser, verb, resource, scope), $"cachier-warmer must NOT be allowed to {verb} {resource} in {scope}");

    [Theory]
    [InlineData("watch", Images, AllNamespaces)]
    [InlineData("watch", "nodes", AllNamespaces)]
    [InlineData("watch", "pods", AllNamespaces)]
    public async Task Warmer_source_may_watch_images_nodes_and_pods(string verb, string resource, string scope) =>
        Assert.True(await CanAsync(WarmerSourceUser, verb, resource, scope), $"cachier-warmer-source must be allowed to {verb} {resource}");

    [Theory]
    [InlineData("cachier")]
    [InlineData("cachier-source")]
    [InlineData("cachier-warmer")]
    [InlineData("cachier-warmer-source")]
    public void Each_cluster_role_is_bound_to_the_service_account_of_its_name(string name)
    {
        var binding = Manifests.Find(cluster.Objects, "ClusterRoleBinding", name);

        Assert.Equal(("ClusterRole", name), ((string?)binding["roleRef"]!["kind"], (string?)binding["roleRef"]!["name"]));
        var subject = Assert.Single(binding["subjects"]!.AsArray())!;
        Assert.Equal(("ServiceAccount", name, Manifests.Namespace),
            ((string?)subject["kind"], (string?)subject["name"], (string?)subject["namespace"]));
    }

    private async Task AssertAllAllowedAsync(string user, string[] verbs)
    {
        Assert.NotEmpty(cluster.WatchedKinds);
        var checks = cluster.WatchedKinds
            .SelectMany(kind => verbs.SelectMany(verb => new[] { AllNamespaces, SomeNamespace }.Select(scope => (verb, resource: Manifests.Resource(kind), scope))))
            .ToList();
        var answers = await Task.WhenAll(checks.Select(c => CanAsync(user, c.verb, c.resource, c.scope)));

        var denied = checks.Where((_, i) => !answers[i]).Select(c => $"{c.verb} {c.resource} in {c.scope}").ToList();
        Assert.True(denied.Count == 0, $"{user} is denied: {string.Join("; ", denied)}");
    }

    private Task<bool> CanAsync(string user, string verb, string resource, string scope) =>
        cluster.Kubectl.CanIAsync(user, verb, resource, scope == AllNamespaces ? null : scope);

    private static HashSet<(string Group, string Resource, string Verb)> Expected(IEnumerable<ResourceKind> kinds, string[] verbs) =>
        kinds.SelectMany(k => verbs.Select(v => (k.Group, k.Plural, v))).ToHashSet();

    private static void AssertSameGrants(ISet<(string Group, string Resource, string Verb)> expected, ISet<(string Group, string Resource, string Verb)> granted, string role)
    {
        var missing = expected.Except(granted).Select(Describe).Order().ToList();
        var extra = granted.Except(expected).Select(Describe).Order().ToList();
        Assert.True(missing.Count == 0 && extra.Count == 0,
            $"{role} does not match the watched kinds of {Manifests.ResourcesVariable}: missing [{string.Join(", ", missing)}], extra [{string.Join(", ", extra)}]");

        static string Describe((string Group, string Resource, string Verb) g) =>
            $"{g.Verb} {(g.Group.Length == 0 ? g.Resource : $"{g.Resource}.{g.Group}")}";
    }
}
