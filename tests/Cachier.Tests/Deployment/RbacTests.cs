using Cachier.Domain;
using Cachier.Manifests;
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

    [Theory]
    [InlineData("list", "deployments.apps", AllNamespaces)]
    [InlineData("get", "deployments.apps", SomeNamespace)]
    [InlineData("create", Images, SomeNamespace)]
    [InlineData("patch", Images, SomeNamespace)]
    [InlineData("delete", Images, SomeNamespace)]
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
    [InlineData("update", Images, SomeNamespace)]
    [InlineData("deletecollection", Images, SomeNamespace)]
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
    [InlineData("get", "events", SomeNamespace)]
    [InlineData("list", "events", AllNamespaces)]
    [InlineData("update", "events", SomeNamespace)]
    [InlineData("delete", "events", SomeNamespace)]
    public async Task Cachier_may_do_nothing_else(string verb, string resource, string scope) =>
        Assert.False(await CanAsync(CachierUser, verb, resource, scope), $"cachier must NOT be allowed to {verb} {resource} in {scope}");

    /// <summary>Events on the workloads it changed: a new one, or one more occurrence of the same (aggregation).</summary>
    [Fact]
    public async Task Cachier_may_create_and_patch_events_in_any_namespace()
    {
        foreach (var verb in ApiAccess.EventVerbs)
        {
            Assert.True(await CanAsync(CachierUser, verb, "events", SomeNamespace), $"cachier must be allowed to {verb} events in {SomeNamespace}");
        }
    }

    [Fact]
    public async Task Cachier_may_get_and_list_every_watched_kind() =>
        await AssertAllAllowedAsync(CachierUser, ApiAccess.WorkloadVerbs);

    /// <summary>What the OwnerReferencesPermissionEnforcement admission plugin asks before it lets Cachier set blockOwnerDeletion.</summary>
    [Fact]
    public async Task Cachier_may_update_the_finalizers_of_every_watched_kind() =>
        await AssertAllAllowedAsync(CachierUser, ApiAccess.OwnerFinalizerVerbs, "/finalizers");

    /// <summary>
    /// The API server of local-cluster.sh runs OwnerReferencesPermissionEnforcement: Cachier's ServiceAccount may create an
    /// Image with blockOwnerDeletion on an owner of every watched kind, and (the plugin is on) not on an owner of another kind.
    /// </summary>
    [Fact]
    public async Task Cachier_may_create_images_with_block_owner_deletion_on_every_watched_kind_only()
    {
        var answers = new List<string>();
        foreach (var kind in cluster.WatchedKinds)
        {
            var created = await CreateImageOwnedByAsync(kind.ApiVersion, kind.Kind);
            // A kind the API server does not serve (batch/v1 CronJob on 1.20) cannot own anything there: its served
            // version (batch/v1beta1) is the same resource for RBAC, so the grant is the same.
            if (created.ExitCode != 0 && created.Stderr.Contains("no matches for kind", StringComparison.Ordinal) && kind.Kind == "CronJob")
            {
                created = await CreateImageOwnedByAsync($"{kind.Group}/v1beta1", kind.Kind);
            }

            if (created.ExitCode != 0)
            {
                answers.Add($"{kind}: {created.Stderr.Trim()}");
            }
        }

        var foreign = await CreateImageOwnedByAsync("v1", "Pod");

        Assert.True(answers.Count == 0, string.Join("\n", answers));
        Assert.True(foreign.ExitCode != 0 && foreign.Stderr.Contains("cannot set blockOwnerDeletion", StringComparison.Ordinal),
            $"an Image owned by a Pod must be refused by OwnerReferencesPermissionEnforcement (is it on?): {foreign.Stderr}{foreign.Stdout}");
    }

    [Fact]
    public async Task Source_may_get_list_and_watch_every_watched_kind() =>
        await AssertAllAllowedAsync(SourceUser, ApiAccess.SourceVerbs);

    [Theory]
    [InlineData("create", "deployments.apps", SomeNamespace)]
    [InlineData("delete", "replicasets.apps", SomeNamespace)]
    [InlineData("get", "secrets", AllNamespaces)]
    [InlineData("list", "configmaps", AllNamespaces)]
    [InlineData("list", Images, AllNamespaces)]
    [InlineData("create", Images, SomeNamespace)]
    public async Task Source_may_only_watch(string verb, string resource, string scope) =>
        Assert.False(await CanAsync(SourceUser, verb, resource, scope), $"cachier-source must NOT be allowed to {verb} {resource} in {scope}");

    /// <summary>
    /// The rules as written: exactly the verbs the code sends (ApiAccess, which RbacVerbsContractTests compares with the
    /// app's calls) on the watched kinds and Images, and update on the watched kinds' finalizers; no wildcard, nothing else.
    /// </summary>
    [Fact]
    public void Cachier_cluster_role_grants_exactly_the_watched_kinds_and_images()
    {
        var expected = Expected(cluster.WatchedKinds, ApiAccess.WorkloadVerbs);
        expected.UnionWith(Expected(cluster.WatchedKinds, ApiAccess.OwnerFinalizerVerbs, "/finalizers"));
        expected.UnionWith(ApiAccess.ImageVerbs.Select(v => (ApiAccess.ImagesGroup, "images", v)));
        expected.UnionWith(ApiAccess.EventVerbs.Select(v => ("", "events", v)));

        var granted = Manifests.Grants(Manifests.Find(cluster.Objects, "ClusterRole", "cachier"));

        AssertSameGrants(expected, granted, "ClusterRole cachier (knative/service.yaml)");
    }

    [Fact]
    public void Source_cluster_role_grants_exactly_get_list_watch_on_the_watched_kinds()
    {
        var expected = Expected(cluster.WatchedKinds, ApiAccess.SourceVerbs);

        var granted = Manifests.Grants(Manifests.Find(cluster.Objects, "ClusterRole", "cachier-source"));

        AssertSameGrants(expected, granted, "ClusterRole cachier-source (knative/apiserversource.yaml)");
    }

    /// <summary>The warmer's rules as written: exactly the calls of KubeApi.Warm.cs, nothing else.</summary>
    [Fact]
    public void Warmer_cluster_role_grants_exactly_the_calls_the_warmer_sends()
    {
        var expected = new HashSet<(string, string, string)>
        {
            ("", "nodes", "get"), ("", "nodes", "list"), ("", "pods", "list"), ("", "pods", "create"), ("", "pods", "delete"),
            ("caching.internal.knative.dev", "images", "list"), ("caching.internal.knative.dev", "images/status", "patch"),
            ("serving.knative.dev", "revisions", "get"),
        };
        expected.UnionWith(Expected(cluster.WatchedKinds, ApiAccess.WarmerOwnerVerbs));

        var granted = Manifests.Grants(Manifests.Find(cluster.Objects, "ClusterRole", "cachier-warmer"));

        AssertSameGrants(expected, granted, "ClusterRole cachier-warmer (knative/warmer.yaml)");
    }

    [Theory]
    [InlineData("get", "nodes", AllNamespaces)]
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

    private async Task AssertAllAllowedAsync(string user, string[] verbs, string subresource = "")
    {
        Assert.NotEmpty(cluster.WatchedKinds);
        var checks = cluster.WatchedKinds
            .SelectMany(kind => verbs.SelectMany(verb => new[] { AllNamespaces, SomeNamespace }.Select(scope => (verb, resource: Manifests.Resource(kind) + subresource, scope))))
            .ToList();
        var answers = await Task.WhenAll(checks.Select(c => CanAsync(user, c.verb, c.resource, c.scope)));

        var denied = checks.Where((_, i) => !answers[i]).Select(c => $"{c.verb} {c.resource} in {c.scope}").ToList();
        Assert.True(denied.Count == 0, $"{user} is denied: {string.Join("; ", denied)}");
    }

    private Task<KubectlResult> CreateImageOwnedByAsync(string apiVersion, string kind) =>
        cluster.Kubectl.ExecAsync(["create", "--dry-run=server", $"--as={CachierUser}", "-n", "default", "-f", "-"], stdin: $$"""
            {"apiVersion": "caching.internal.knative.dev/v1alpha1", "kind": "Image",
             "metadata": {"name": "probe-{{kind.ToLowerInvariant()}}", "ownerReferences": [{"apiVersion": "{{apiVersion}}", "kind": "{{kind}}",
               "name": "owner", "uid": "5b1c7f3e-2d4a-4c8b-9e6f-0a1b2c3d4e5f", "controller": true, "blockOwnerDeletion": true}]},
             "spec": {"image": "nginx:1.25"} }
            """);

    private Task<bool> CanAsync(string user, string verb, string resource, string scope) =>
        cluster.Kubectl.CanIAsync(user, verb, resource, scope == AllNamespaces ? null : scope);

    private static HashSet<(string Group, string Resource, string Verb)> Expected(IEnumerable<ResourceKind> kinds, string[] verbs, string subresource = "") =>
        kinds.SelectMany(k => verbs.Select(v => (k.Group, k.Plural + subresource, v))).ToHashSet();

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
