using System.Net;

namespace Cachier.Tests.Integration;

/// <summary>
/// Issue 17, the freeze: a Resource-mode event with a workload's real uid and generation 999999999 used to write that
/// generation into the label, after which the stale guard refused every genuine event and every resync. The object an
/// event carries is not trusted now: the real one is read.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class FreezeIntegrationTests(ClusterFixture cluster)
{
    [Fact]
    public async Task Forged_generation_in_a_resource_event_does_not_freeze_the_workload()
    {
        var ns = await cluster.NamespaceAsync();
        await cluster.Admin.ApplyAsync(Workloads.Deployment(ns, "web", ["nginx:1.25"]));
        using var app = cluster.App();
        var client = app.CreateClient();
        var real = await cluster.Admin.GetAsync("deployment/web", ns);
        var forged = real.DeepClone().AsObject();
        forged["metadata"]!["generation"] = 999_999_999;

        var (forgedStatus, _) = await CloudEvents.SendResourceAsync(client, "update", forged);
        await cluster.Admin.ApplyAsync(Workloads.Deployment(ns, "web", ["nginx:1.27"]));
        var (status, body) = await CloudEvents.SendRefAsync(client, "update", "apps/v1", "Deployment", ns, "web");

        Assert.Equal(HttpStatusCode.OK, forgedStatus);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("reconciled", (string?)body["outcome"]!["result"]);
        var images = await cluster.Admin.RunAsync($"get images.caching.internal.knative.dev -n {ns} -o jsonpath={{.items[*].spec.image}}");
        Assert.Equal("nginx:1.27", images.Trim());
        var labels = await cluster.Admin.RunAsync($"get images.caching.internal.knative.dev -n {ns} -o jsonpath={{.items[*].metadata.labels.generation}}");
        Assert.DoesNotContain("999999999", labels);
    }
}
