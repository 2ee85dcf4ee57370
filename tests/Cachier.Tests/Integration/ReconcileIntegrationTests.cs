using System.Net;
using System.Text.Json.Nodes;

namespace Cachier.Tests.Integration;

/// <summary>The function against the real kube-apiserver (and controller-manager), each test in its own namespace.</summary>
[Collection(ClusterCollection.Name)]
public sealed class ReconcileIntegrationTests(ClusterFixture cluster)
{
    private Kubectl Kubectl => cluster.Admin;

    [Fact]
    public async Task Create_makes_one_image_per_distinct_image_with_the_spec_shape()
    {
        var ns = await cluster.NamespaceAsync();
        await Kubectl.ApplyAsync(Workloads.Deployment(ns, "web", ["nginx:1.25", "busybox:1.36", "nginx:1.25"], init: ["alpine:3.20"],
            serviceAccount: "web-sa", pullSecrets: ["regcred"]));
        var deployment = await Kubectl.GetAsync("deployment/web", ns);
        var uid = (string)deployment["metadata"]!["uid"]!;
        using var app = cluster.App();

        var (status, body) = await CloudEvents.SendRefAsync(app.CreateClient(), "add", "apps/v1", "Deployment", ns, "web");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("reconciled", (string)body["outcome"]!["result"]!);
        Assert.Equal(3, (int)body["outcome"]!["created"]!);
        var images = await Kubectl.ImagesAsync(ns);
        Assert.Equal(
            new[] { "alpine:3.20", "busybox:1.36", "nginx:1.25" }.Select(i => ExpectedNames.Image("web", uid, i)).Order(),
            images.Select(i => (string)i["metadata"]!["name"]!).Order());
        foreach (var image in images)
        {
            var meta = image["metadata"]!;
            Assert.Equal(uid, (string)meta["labels"]!["controller"]!);
            Assert.Equal($"{(long)deployment["metadata"]!["generation"]!:D5}", (string)meta["labels"]!["generation"]!);
            Assert.Equal("cachier", (string)meta["labels"]!["app.kubernetes.io/managed-by"]!);
            var owner = Assert.Single(meta["ownerReferences"]!.AsArray())!;
            Assert.Equal(("apps/v1", "Deployment", "web", uid, true, true),
                ((string)owner["apiVersion"]!, (string)owner["kind"]!, (string)owner["name"]!, (string)owner["uid"]!,
                 (bool)owner["controller"]!, (bool)owner["blockOwnerDeletion"]!));
            Assert.Equal("web-sa", (string)image["spec"]!["serviceAccountName"]!);
            Assert.Equal("regcred", (string)image["spec"]!["imagePullSecrets"]![0]!["name"]!);
            Assert.Equal(ExpectedNames.Image("web", uid, (string)image["spec"]!["image"]!), (string)meta["name"]!);
        }
    }

    [Fact]
    public async Task Image_change_replaces_only_the_changed_image()
    {
        var ns = await cluster.NamespaceAsync();
        await Kubectl.ApplyAsync(Workloads.Deployment(ns, "web", ["nginx:1.25", "redis:7"]));
        using var app = cluster.App();
        var client = app.CreateClient();
        await CloudEvents.SendRefAsync(client, "add", "apps/v1", "Deployment", ns, "web");
        var redis = (await Kubectl.ImagesAsync(ns)).Single(i => (string)i["spec"]!["image"]! == "redis:7");

        await Kubectl.ApplyAsync(Workloads.Deployment(ns, "web", ["nginx:1.27", "redis:7"]));
        var (status, body) = await CloudEvents.SendRefAsync(client, "update", "apps/v1", "Deployment", ns, "web");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal((1, 1), ((int)body["outcome"]!["created"]!, (int)body["outcome"]!["deleted"]!));
        var images = await Kubectl.ImagesAsync(ns);
        Assert.Equal(["nginx:1.27", "redis:7"], images.Select(i => (string)i["spec"]!["image"]!).Order());
        var kept = images.Single(i => (string)i["spec"]!["image"]! == "redis:7");
        Assert.Equal((string)redis["metadata"]!["uid"]!, (string)kept["metadata"]!["uid"]!);
        // Only the changed image was written: the new one carries generation 2, the kept one is untouched.
        Assert.Equal("00002", (string)images.Single(i => (string)i["spec"]!["image"]! == "nginx:1.27")["metadata"]!["labels"]!["generation"]!);
        Assert.Equal((string)redis["metadata"]!["resourceVersion"]!, (string)kept["metadata"]!["resourceVersion"]!);
        Assert.Equal(0, (int)body["outcome"]!["updated"]!);
    }

    [Fact]
    public async Task Scale_only_writes_nothing()
    {
        var ns = await cluster.NamespaceAsync();
        await Kubectl.ApplyAsync(Workloads.Deployment(ns, "web", ["nginx:1.25", "redis:7"]));
        using var app = cluster.App();
        var client = app.CreateClient();
        await CloudEvents.SendRefAsync(client, "add", "apps/v1", "Deployment", ns, "web");
        var before = (await Kubectl.ImagesAsync(ns)).ToDictionary(i => (string)i["metadata"]!["name"]!, i => (string)i["metadata"]!["resourceVersion"]!);

        await Kubectl.RunAsync($"scale deployment/web --replicas=3 -n {ns}");
        var (status, body) = await CloudEvents.SendRefAsync(client, "update", "apps/v1", "Deployment", ns, "web");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal((0, 0, 0, 2), ((int)body["outcome"]!["created"]!, (int)body["outcome"]!["updated"]!,
            (int)body["outcome"]!["deleted"]!, (int)body["outcome"]!["unchanged"]!));
        var after = (await Kubectl.ImagesAsync(ns)).ToDictionary(i => (string)i["metadata"]!["name"]!, i => (string)i["metadata"]!["resourceVersion"]!);
        Assert.Equal(before, after);
    }

    [Fact]
    public async Task Opt_out_deletes_the_images_and_opting_back_in_recreates_them()
    {
        var ns = await cluster.NamespaceAsync();
        await Kubectl.ApplyAsync(Workloads.Deployment(ns, "web", ["nginx:1.25", "redis:7"]));
        using var app = cluster.App();
        var client = app.CreateClient();
        await CloudEvents.SendRefAsync(client, "add", "apps/v1", "Deployment", ns, "web");
        Assert.Equal(2, (await Kubectl.ImagesAsync(ns)).Count);

        await Kubectl.RunAsync($"annotate deployment/web cachier.mattmoor.io/decorate=Off -n {ns}");
        var (_, off) = await CloudEvents.SendRefAsync(client, "update", "apps/v1", "Deployment", ns, "web");
        Assert.Equal(("disabled", 2), ((string)off["outcome"]!["result"]!, (int)off["outcome"]!["deleted"]!));
        Assert.Empty(await Kubectl.ImagesAsync(ns));

        await Kubectl.RunAsync($"annotate deployment/web cachier.mattmoor.io/decorate=true --overwrite -n {ns}");
        var (_, on) = await CloudEvents.SendRefAsync(client, "update", "apps/v1", "Deployment", ns, "web");
        Assert.Equal(("reconciled", 2), ((string)on["outcome"]!["result"]!, (int)on["outcome"]!["created"]!));
        Assert.Equal(2, (await Kubectl.ImagesAsync(ns)).Count);
    }

    [Fact]
    public async Task Deleting_the_workload_garbage_collects_its_images()
    {
        var ns = await cluster.NamespaceAsync();
        await Kubectl.ApplyAsync(Workloads.Deployment(ns, "web", ["nginx:1.25"]));
        using var app = cluster.App();
        var client = app.CreateClient();
        await CloudEvents.SendRefAsync(client, "add", "apps/v1", "Deployment", ns, "web");
        Assert.Single(await Kubectl.ImagesAsync(ns));

        await Kubectl.RunAsync($"delete deployment/web -n {ns}");
        var (status, body) = await CloudEvents.SendRefAsync(client, "delete", "apps/v1", "Deployment", ns, "web");

        Assert.Equal((HttpStatusCode.OK, "deleted"), (status, (string)body["outcome"]!["result"]!));
        // The controller-manager's garbage collector follows the ownerReferences: a watch, bounded by a timeout. The
        // bound is generous: its queue is rate-limited, and the resync test's 2,000 deleted workloads may be ahead of us
        // (seen: 3 min 45 s on 2 cores).
        await Kubectl.RunAsync($"wait --for=delete images.caching.internal.knative.dev --all -n {ns} --timeout=600s");
        Assert.Empty(await Kubectl.ImagesAsync(ns));
    }

    [Fact]
    public async Task CronJob_images_come_from_the_job_template()
    {
        var ns = await cluster.NamespaceAsync();
        await Kubectl.ApplyAsync(Workloads.CronJob(ns, "nightly", ["backup:2.1", "busybox:1.36"]));
        using var app = cluster.App();

        var (status, body) = await CloudEvents.SendRefAsync(app.CreateClient(), "add", "batch/v1beta1", "CronJob", ns, "nightly", structured: true);

        Assert.Equal((HttpStatusCode.OK, 2), (status, (int)body["outcome"]!["created"]!));
        var images = await Kubectl.ImagesAsync(ns);
        Assert.Equal(["backup:2.1", "busybox:1.36"], images.Select(i => (string)i["spec"]!["image"]!).Order());
        Assert.All(images, i => Assert.Equal("CronJob", (string)i["metadata"]!["ownerReferences"]![0]!["kind"]!));
    }

    [Fact]
    public async Task StatefulSet_images_carry_pull_secrets_and_service_account()
    {
        var ns = await cluster.NamespaceAsync();
        await Kubectl.ApplyAsync(Workloads.StatefulSet(ns, "db", ["postgres:16"], "db-sa", ["regcred", "mirror"]));
        using var app = cluster.App();

        await CloudEvents.SendRefAsync(app.CreateClient(), "add", "apps/v1", "StatefulSet", ns, "db");

        var image = Assert.Single(await Kubectl.ImagesAsync(ns));
        Assert.Equal("db-sa", (string)image["spec"]!["serviceAccountName"]!);
        Assert.Equal(["regcred", "mirror"], image["spec"]!["imagePullSecrets"]!.AsArray().Select(s => (string)s!["name"]!));
    }

    [Fact]
    public async Task Custom_podspecable_kind_is_cached_by_shape()
    {
        var ns = await cluster.NamespaceAsync();
        await Kubectl.ApplyAsync(Workloads.Foo(ns, "custom", ["ghcr.io/example/foo:1"]));
        using var app = cluster.App();

        var (status, body) = await CloudEvents.SendRefAsync(app.CreateClient(), "add", "example.cachier.dev/v1", "Foo", ns, "custom");

        Assert.Equal((HttpStatusCode.OK, "reconciled"), (status, (string)body["outcome"]!["result"]!));
        var image = Assert.Single(await Kubectl.ImagesAsync(ns));
        Assert.Equal("ghcr.io/example/foo:1", (string)image["spec"]!["image"]!);
        Assert.Equal("Foo", (string)image["metadata"]!["ownerReferences"]![0]!["kind"]!);
    }

    [Fact]
    public async Task Reference_mode_and_resource_mode_give_the_same_images()
    {
        var ns = await cluster.NamespaceAsync();
        await Kubectl.ApplyAsync(Workloads.Deployment(ns, "web", ["nginx:1.25", "redis:7"], init: ["alpine:3.20"], serviceAccount: "sa"));
        var deployment = await Kubectl.GetAsync("deployment/web", ns);

        using (var resourceApp = cluster.App())
        {
            await CloudEvents.SendResourceAsync(resourceApp.CreateClient(), "add", deployment);
        }

        var viaResource = Snapshot(await Kubectl.ImagesAsync(ns));
        await Kubectl.RunAsync($"delete images.caching.internal.knative.dev --all -n {ns}");
        using (var refApp = cluster.App())
        {
            await CloudEvents.SendRefAsync(refApp.CreateClient(), "add", "apps/v1", "Deployment", ns, "web");
        }

        Assert.Equal(3, viaResource.Count);
        Assert.Equal(viaResource, Snapshot(await Kubectl.ImagesAsync(ns)));
    }

    [Fact]
    public async Task Old_resource_event_changes_nothing_because_the_current_object_is_read()
    {
        var ns = await cluster.NamespaceAsync();
        await Kubectl.ApplyAsync(Workloads.Deployment(ns, "web", ["nginx:1.25"]));
        var generation1 = await Kubectl.GetAsync("deployment/web", ns);
        await Kubectl.ApplyAsync(Workloads.Deployment(ns, "web", ["nginx:1.27"]));
        var generation2 = await Kubectl.GetAsync("deployment/web", ns);
        using var app = cluster.App();
        var client = app.CreateClient();
        await CloudEvents.SendResourceAsync(client, "update", generation2);
        var before = Snapshot(await Kubectl.ImagesAsync(ns), withVersion: true);

        var (status, body) = await CloudEvents.SendResourceAsync(client, "add", generation1, structured: false);

        // The object the event carries is not trusted (SPEC section 5): the current one is read, and it is applied.
        Assert.Equal((HttpStatusCode.OK, "reconciled"), (status, (string)body["outcome"]!["result"]!));
        Assert.Equal(0, (int)body["outcome"]!["created"]! + (int)body["outcome"]!["updated"]! + (int)body["outcome"]!["deleted"]!);
        Assert.Equal(before, Snapshot(await Kubectl.ImagesAsync(ns), withVersion: true));
        Assert.Equal("nginx:1.27", (string)Assert.Single(await Kubectl.ImagesAsync(ns))["spec"]!["image"]!);
    }

    [Fact]
    public async Task Fifty_concurrent_duplicate_deliveries_leave_one_image_per_distinct_image()
    {
        var ns = await cluster.NamespaceAsync();
        await Kubectl.ApplyAsync(Workloads.Deployment(ns, "web", ["nginx:1.25", "redis:7", "busybox:1.36"]));
        // Two replicas of the function, as Knative would run under load: names + preconditions, not locks, keep them apart.
        using var replicaA = cluster.App();
        using var replicaB = cluster.App();
        var clients = new[] { replicaA.CreateClient(), replicaB.CreateClient() };

        var results = await Task.WhenAll(Enumerable.Range(0, 50).Select(i =>
            CloudEvents.SendRefAsync(clients[i % 2], "add", "apps/v1", "Deployment", ns, "web", structured: i % 3 == 0)));

        Assert.All(results, r => Assert.Equal(HttpStatusCode.OK, r.Status));
        Assert.Equal(3, results.Sum(r => (int)r.Body["outcome"]!["created"]!));
        var images = await Kubectl.ImagesAsync(ns);
        Assert.Equal(["busybox:1.36", "nginx:1.25", "redis:7"], images.Select(i => (string)i["spec"]!["image"]!).Order());
    }

    [Fact]
    public async Task An_image_of_the_same_name_owned_by_someone_else_is_never_overwritten()
    {
        var ns = await cluster.NamespaceAsync();
        await Kubectl.ApplyAsync(Workloads.Deployment(ns, "web", ["nginx:1.25"]));
        var uid = (string)(await Kubectl.GetAsync("deployment/web", ns))["metadata"]!["uid"]!;
        var name = ExpectedNames.Image("web", uid, "nginx:1.25");
        await Kubectl.ApplyAsync(new JsonObject
        {
            ["apiVersion"] = "caching.internal.knative.dev/v1alpha1",
            ["kind"] = "Image",
            ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = ns, ["labels"] = new JsonObject { ["team"] = "other" } },
            ["spec"] = new JsonObject { ["image"] = "someone/else:1" },
        }.ToJsonString());
        var before = Snapshot(await Kubectl.ImagesAsync(ns), withVersion: true);
        using var app = cluster.App();

        var (status, body) = await CloudEvents.SendRefAsync(app.CreateClient(), "add", "apps/v1", "Deployment", ns, "web");

        Assert.Equal((HttpStatusCode.OK, "not-owned"), (status, (string)body["outcome"]!["result"]!));
        Assert.Equal(before, Snapshot(await Kubectl.ImagesAsync(ns), withVersion: true));
    }

    /// <summary>What the SPEC fixes about an Image: name, labels, owner, spec (and resourceVersion when asked).</summary>
    private static SortedDictionary<string, string> Snapshot(List<JsonObject> images, bool withVersion = false)
    {
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var image in images)
        {
            var meta = image["metadata"]!;
            var labels = meta["labels"]?.ToJsonString() ?? "";
            var owners = meta["ownerReferences"]?.ToJsonString() ?? "";
            result[(string)meta["name"]!] = $"{labels}|{owners}|{image["spec"]!.ToJsonString()}" +
                (withVersion ? $"|{meta["resourceVersion"]}" : "");
        }

        return result;
    }
}
