using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace Cachier.Tests.DeploymentChecks;

/// <summary>
/// The Native AOT binary that the Dockerfile ships (scripts/publish.sh, run by scripts/test.sh before the tests)
/// serves the Dapr subscription and /metrics: the paths whose JSON needs source generation under AOT.
/// </summary>
public sealed class PublishedBinaryTests : IDisposable
{
    private static readonly string Binary = Repository.PublishedBinary;
    private readonly WireMockServer _api = WireMockServer.Start();

    [Fact]
    public async Task Published_binary_serves_dapr_subscription_deliveries_and_metrics()
    {
        Assert.True(File.Exists(Binary), $"{Binary} is missing: run scripts/publish.sh (scripts/test.sh does) first");
        var deployment = JsonNode.Parse(CloudEvents.Sample("01-resource-add.data.json"))!;
        _api.Given(Request.Create().WithPath("/apis/apps/v1/namespaces/demo/deployments/dummy").UsingGet())
            .RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json").WithBody(deployment.ToJsonString()));
        _api.Given(Request.Create().WithPath(ApiPaths.ImagesPath("demo")).UsingGet())
            .RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json").WithBody("""{"kind":"ImageList","metadata":{},"items":[]}"""));
        _api.Given(Request.Create().WithPath(ApiPaths.ImagesPath("demo")).UsingPost())
            .RespondWith(Response.Create().WithStatusCode(201).WithHeader("Content-Type", "application/json").WithBody("{}"));
        await using var function = await FunctionProcess.StartAsync(Binary, [], new Dictionary<string, string>
        {
            ["Cachier__ApiServerUrl"] = _api.Url!,
            ["Cachier__DaprPubSubName"] = "pubsub",
            ["Cachier__DaprTopic"] = "k8s-events",
            // As shipped: one JSON object per log line, the console formatter that must work under AOT too.
            ["Cachier__LogFormat"] = "json",
        });
        var client = function.Client;

        var subscriptions = JsonNode.Parse(await client.GetStringAsync("/dapr/subscribe"))!.AsArray();
        var delivery = await client.PostAsync("/dapr/events", new StringContent(
            CloudEvents.Sample("03-ref-update.structured.json"), Encoding.UTF8, "application/cloudevents+json"));
        var metrics = await client.GetStringAsync("/metrics");

        var subscription = Assert.Single(subscriptions)!;
        Assert.Equal(("pubsub", "k8s-events", "/dapr/events"), ((string)subscription["pubsubname"]!, (string)subscription["topic"]!, (string)subscription["route"]!));
        Assert.Equal(HttpStatusCode.OK, delivery.StatusCode);
        Assert.Equal("SUCCESS", (string)JsonNode.Parse(await delivery.Content.ReadAsStringAsync())!["status"]!);
        Assert.Single(ApiPaths.ImageWrites(_api, "POST")); // the Event POSTs aside
        Assert.Contains("cachier_events_handled_total{otel_scope_name=\"Cachier\",outcome=\"reconciled\",type=\"dev.knative.apiserver.ref.update\"} 1", metrics);
        Assert.Contains("cachier_images_written_total{otel_scope_name=\"Cachier\",operation=\"created\"} 1", metrics);
    }

    public void Dispose() => _api.Dispose();
}
