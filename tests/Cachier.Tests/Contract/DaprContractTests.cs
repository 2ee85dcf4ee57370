using System.Net;
using System.Text.Json.Nodes;
using static Cachier.Tests.Contract.CachierHost;
using static Cachier.Tests.Contract.Objects;

namespace Cachier.Tests.Contract;

/// <summary>
/// SPEC section 6, Dapr (optional): GET /dapr/subscribe and a topic route feeding the same pipeline as POST /,
/// answered in Dapr's terms (SUCCESS, RETRY, DROP); nothing of it when not configured.
/// </summary>
public sealed class DaprContractTests
{
    private const string SampleUid = "a792cd10-ca9d-11e8-b5eb-42010af000a3";
    private static readonly (string, string)[] Dapr = [("DaprPubSubName", "pubsub"), ("DaprTopic", "workloads")];

    /// <summary>The ApiServerSource event as Dapr delivers a CloudEvent a publisher sent: with Dapr's extensions added.</summary>
    private static JsonObject Delivered(string sample)
    {
        var ev = JsonNode.Parse(Sample(sample))!.AsObject();
        ev["pubsubname"] = "pubsub";
        ev["topic"] = "workloads";
        ev["traceid"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        return ev;
    }

    [Fact]
    public async Task Dapr_subscription_lists_the_configured_topic()
    {
        using var host = Start(Dapr);

        var response = await host.Client.GetAsync("/dapr/subscribe");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var subscription = Assert.Single(JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsArray())!;
        Assert.Equal("pubsub", (string?)subscription["pubsubname"]);
        Assert.Equal("workloads", (string?)subscription["topic"]);
        var route = (string?)subscription["route"];
        Assert.False(string.IsNullOrEmpty(route));
        Assert.NotEqual("/", route);
    }

    [Fact]
    public async Task Dapr_delivery_feeds_the_same_pipeline_and_answers_success()
    {
        using var host = Start(Dapr);
        host.StubGetWorkload("apps/v1", "deployments", Ns, "dummy", JsonNode.Parse(Sample("01-resource-add.data.json"))!);
        host.StubListImages(Ns);
        host.StubCreate(Ns);

        var response = await host.PostAsync(await RouteAsync(host), Delivered("01-resource-add.structured.json").ToJsonString(), "application/cloudevents+json");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("SUCCESS", (string?)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["status"]);
        Assert.Equal([$"GET {WorkloadPath("apps/v1", "deployments", Ns, "dummy")}", $"GET {ImagesPath(Ns)}{ControllerQuery(SampleUid)}", $"POST {ImagesPath(Ns)}"], host.Lines);
        AssertCreates(host.Calls[2], JsonNode.Parse(Sample("01-resource-add.data.json"))!.AsObject(), "ubuntu");
    }

    [Fact]
    public async Task Dapr_delivery_of_an_event_wrapped_in_daprs_envelope_is_unwrapped()
    {
        using var host = Start(Dapr);
        host.StubGetWorkload("apps/v1", "deployments", Ns, "dummy", JsonNode.Parse(Sample("01-resource-add.data.json"))!);
        host.StubListImages(Ns);
        host.StubCreate(Ns);
        var wrapped = new JsonObject
        {
            ["specversion"] = "1.0",
            ["id"] = Guid.NewGuid().ToString(),
            ["source"] = "cachier-publisher",
            ["type"] = "com.dapr.event.sent",
            ["datacontenttype"] = "application/json",
            ["pubsubname"] = "pubsub",
            ["topic"] = "workloads",
            ["data"] = JsonNode.Parse(Sample("01-resource-add.structured.json")),
        };

        var response = await host.PostAsync(await RouteAsync(host), wrapped.ToJsonString(), "application/cloudevents+json");

        Assert.Equal("SUCCESS", (string?)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["status"]);
        Assert.Equal(["GET", "GET", "POST"], host.Calls.Select(c => c.Method));
    }

    [Fact]
    public async Task Dapr_delivery_asks_for_a_retry_on_a_transient_api_failure()
    {
        using var host = Start(Dapr);
        host.StubGetWorkload("apps/v1", "deployments", Ns, "dummy", JsonNode.Parse(Sample("01-resource-add.data.json"))!);
        host.StubListImagesStatus(Ns, 503);

        var response = await host.PostAsync(await RouteAsync(host), Delivered("01-resource-add.structured.json").ToJsonString(), "application/cloudevents+json");

        Assert.Equal("RETRY", (string?)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["status"]);
        Assert.Empty(host.Writes);
    }

    [Fact]
    public async Task Dapr_delivery_of_a_malformed_event_is_dropped_without_any_api_call()
    {
        using var host = Start(Dapr);
        var ev = Delivered("03-ref-update.structured.json");
        ev.Remove("id");

        var response = await host.PostAsync(await RouteAsync(host), ev.ToJsonString(), "application/cloudevents+json");

        Assert.Equal("DROP", (string?)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["status"]);
        Assert.Empty(host.Calls);
    }

    [Fact]
    public async Task Knative_deliveries_on_post_root_are_unchanged_when_dapr_is_configured()
    {
        using var host = Start(Dapr);
        host.StubGetWorkload("apps/v1", "deployments", Ns, "dummy", JsonNode.Parse(Sample("01-resource-add.data.json"))!);
        host.StubListImages(Ns);
        host.StubCreate(Ns);

        var outcome = await OutcomeAsync(await host.SendSampleBinaryAsync("01-resource-add.structured.json", "01-resource-add.data.json"));

        Assert.Equal("reconciled", (string?)outcome["result"]);
        Assert.Equal(["GET", "GET", "POST"], host.Calls.Select(c => c.Method));
    }

    [Fact]
    public async Task Dapr_routes_are_absent_when_dapr_is_not_configured()
    {
        using var host = Start();

        var response = await host.Client.GetAsync("/dapr/subscribe");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    private static async Task<string> RouteAsync(CachierHost host)
    {
        var subscriptions = JsonNode.Parse(await host.Client.GetStringAsync("/dapr/subscribe"))!.AsArray();
        return (string)subscriptions[0]!["route"]!;
    }
}
