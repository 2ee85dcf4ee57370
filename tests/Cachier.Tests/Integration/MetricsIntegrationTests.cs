using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;

namespace Cachier.Tests.Integration;

/// <summary>Alone: Cachier's meter is process-wide, so no other test may move its counters meanwhile.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MetricsCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "metrics";
}

[Collection(MetricsCollection.Name)]
public sealed partial class MetricsIntegrationTests(ClusterFixture cluster)
{
    [Fact]
    public async Task Metrics_move_by_what_the_events_and_the_resync_did()
    {
        var ns = await cluster.NamespaceAsync();
        await cluster.Admin.ApplyAsync(Workloads.Deployment(ns, "one", ["nginx:1.25", "redis:7"]));
        await cluster.Admin.ApplyAsync(Workloads.Deployment(ns, "two", ["busybox:1.36"]));
        using var app = cluster.App();
        var client = app.CreateClient();
        // The first resync also repairs whatever earlier tests left in the cluster: start counting after it.
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("/resync", null)).StatusCode);
        var two = (string)(await cluster.Admin.GetAsync("deployment/two", ns))["metadata"]!["uid"]!;
        var before = Parse(await client.GetStringAsync("/metrics"));

        // An image change (an event's work) and a hand-deleted Image (drift: the resync's work).
        await cluster.Admin.ApplyAsync(Workloads.Deployment(ns, "one", ["nginx:1.27", "redis:7"]));
        await cluster.Admin.RunAsync($"delete images.caching.internal.knative.dev -n {ns} -l controller={two}");

        await CloudEvents.SendRefAsync(client, "update", "apps/v1", "Deployment", ns, "one");
        await CloudEvents.SendRefAsync(client, "update", "apps/v1", "Deployment", ns, "one");
        await CloudEvents.SendRefAsync(client, "add", "v1", "Secret", ns, "nope");
        var resync = await client.PostAsync("/resync", null);
        var after = Parse(await client.GetStringAsync("/metrics"));

        Assert.Equal(HttpStatusCode.OK, resync.StatusCode);
        double Delta(string series) => after.GetValueOrDefault(series) - before.GetValueOrDefault(series);
        Assert.Equal(2, Delta("cachier_events_handled_total{otel_scope_name=\"Cachier\",outcome=\"reconciled\",type=\"dev.knative.apiserver.ref.update\"}"));
        Assert.Equal(1, Delta("cachier_events_handled_total{otel_scope_name=\"Cachier\",outcome=\"ignored\",type=\"dev.knative.apiserver.ref.add\"}"));
        Assert.Equal(3, Delta("cachier_event_duration_seconds_count{otel_scope_name=\"Cachier\",outcome=\"reconciled\"}")
            + Delta("cachier_event_duration_seconds_count{otel_scope_name=\"Cachier\",outcome=\"ignored\"}"));
        // The first event created nginx:1.27 and deleted nginx:1.25 (redis:7 untouched); the second was a memo hit.
        // The resync recreated two's Image (drift) and nothing else.
        Assert.Equal(2, Delta("cachier_images_written_total{otel_scope_name=\"Cachier\",operation=\"created\"}"));
        Assert.Equal(1, Delta("cachier_images_written_total{otel_scope_name=\"Cachier\",operation=\"deleted\"}"));
        Assert.Equal(0, Delta("cachier_images_written_total{otel_scope_name=\"Cachier\",operation=\"updated\"}"));
        Assert.Equal(1, Delta("cachier_resync_runs_total{otel_scope_name=\"Cachier\",result=\"completed\"}"));
        Assert.Equal(1, Delta("cachier_resync_duration_seconds_count{otel_scope_name=\"Cachier\"}"));
        Assert.Equal(1, Delta("cachier_resync_images_repaired_total{otel_scope_name=\"Cachier\"}"));
        // First event: GET + LIST + POST + DELETE of Images; second: GET only (memo); the Secret: nothing;
        // the resync: a LIST per page and kind, and one POST. The Kubernetes Events about them (POSTs too, written off
        // the reconcile) are counted under their own resource.
        Assert.Equal(2, Delta("cachier_api_requests_total{otel_scope_name=\"Cachier\",code=\"201\",resource=\"images\",verb=\"POST\"}"));
        Assert.Equal(1, Delta("cachier_api_requests_total{otel_scope_name=\"Cachier\",code=\"200\",resource=\"images\",verb=\"DELETE\"}"));
        Assert.Equal(0, Delta("cachier_api_requests_total{otel_scope_name=\"Cachier\",code=\"200\",resource=\"images\",verb=\"PUT\"}"));
        // The two events GET their Deployment (the resync LISTs; it may also GET an Image another test left as not-owned).
        Assert.Equal(2, Delta("cachier_api_requests_total{otel_scope_name=\"Cachier\",code=\"200\",resource=\"deployments\",verb=\"GET\"}"));
    }

    /// <summary>Prometheus text format: series (name + labels) to value.</summary>
    private static Dictionary<string, double> Parse(string text) =>
        SeriesLine().Matches(text).ToDictionary(m => m.Groups[1].Value, m => double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture));

    [GeneratedRegex(@"^(cachier_[^ ]+) ([0-9.eE+-]+)(?: \d+)?$", RegexOptions.Multiline)]
    private static partial Regex SeriesLine();
}
