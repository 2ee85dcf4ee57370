using System.Net;
using System.Text.Json.Nodes;

namespace Cachier.Tests.Integration;

/// <summary>Issue 15 part 4 on the real API server: the Events an operator sees on the workload (kubectl describe).</summary>
[Collection(ClusterCollection.Name)]
public sealed class WorkloadEventIntegrationTests(ClusterFixture cluster)
{
    private Kubectl Kubectl => cluster.Admin;

    /// <summary>Cachier's Events on the object (the deployment controller writes its own, ScalingReplicaSet).</summary>
    private async Task<List<JsonObject>> EventsOnAsync(string ns, string uid) =>
        JsonNode.Parse(await Kubectl.RunAsync($"get events -n {ns} --field-selector involvedObject.uid={uid},source=cachier -o json"))!["items"]!
            .AsArray().Select(e => e!.AsObject()).ToList();

    [Fact]
    public async Task Created_images_show_on_the_deployment_a_no_op_adds_no_event_and_a_repeat_aggregates()
    {
        await Kubectl.WaitUntilAllowedAsync(ClusterFixture.CachierUser, "patch", "events");
        var ns = await cluster.NamespaceAsync();
        await Kubectl.ApplyAsync(Workloads.Deployment(ns, "web", ["nginx:1.25"]));
        var uid = (string)(await Kubectl.GetAsync("deployment/web", ns))["metadata"]!["uid"]!;
        using var app = cluster.App();
        var client = app.CreateClient();

        var (status, body) = await CloudEvents.SendRefAsync(client, "add", "apps/v1", "Deployment", ns, "web");
        await app.FlushEventsAsync();
        var created = Assert.Single(await EventsOnAsync(ns, uid));
        var described = await Kubectl.RunAsync($"describe deployment web -n {ns}");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(1, (int)body["outcome"]!["created"]!);
        Assert.Equal(("Normal", "ImagesCreated", 1), ((string?)created["type"], (string?)created["reason"], (int?)created["count"]));
        Assert.Contains("ImagesCreated", described, StringComparison.Ordinal);
        Assert.Contains("Created 1 Image to cache this workload's container images", described, StringComparison.Ordinal);

        // A no-op (nothing changed since the Image was written) tells nothing.
        (status, body) = await CloudEvents.SendRefAsync(client, "update", "apps/v1", "Deployment", ns, "web");
        await app.FlushEventsAsync();
        Assert.Equal(0, (int)body["outcome"]!["created"]!);
        Assert.Equal((string?)created["metadata"]!["resourceVersion"], (string?)Assert.Single(await EventsOnAsync(ns, uid))["metadata"]!["resourceVersion"]);

        // The same change again (the Image deleted behind Cachier's back, the resync repairs it): the Event counts 2.
        await Kubectl.RunAsync($"delete images.caching.internal.knative.dev --all -n {ns}");
        var resync = await client.PostAsync("/resync", null);
        await app.FlushEventsAsync();
        var repeated = Assert.Single(await EventsOnAsync(ns, uid));

        Assert.Equal(HttpStatusCode.OK, resync.StatusCode);
        Assert.Equal((string?)created["metadata"]!["name"], (string?)repeated["metadata"]!["name"]);
        Assert.Equal(2, (int?)repeated["count"]);
    }
}
