using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Cachier.Http;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using static Cachier.Tests.Support.AppHost;
using static Cachier.Tests.Support.CloudEvents;
using static Cachier.Tests.Support.Objects;

namespace Cachier.Tests.Contract;

/// <summary>
/// SPEC section 6, Dapr (optional): GET /dapr/subscribe and a topic route feeding the same pipeline as POST /,
/// answered in Dapr's terms: SUCCESS; RETRY when a later delivery can succeed; DROP (to the subscription's dead-letter
/// topic) when none can. Nothing of it when not configured.
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
        Assert.Equal("workloads-deadletter", (string?)subscription["deadLetterTopic"]);
    }

    [Fact]
    public async Task Dapr_subscription_names_the_configured_dead_letter_topic()
    {
        using var host = Start([.. Dapr, ("DaprDeadLetterTopic", "cachier-poison")]);

        var subscription = JsonNode.Parse(await host.Client.GetStringAsync("/dapr/subscribe"))!.AsArray().Single()!;

        Assert.Equal("cachier-poison", (string?)subscription["deadLetterTopic"]);
    }

    [Fact]
    public async Task Dapr_delivery_is_dropped_to_the_dead_letter_topic_on_a_permanent_api_failure()
    {
        using var host = Start(Dapr);
        host.StubGetWorkloadStatus("apps/v1", "deployments", Ns, "dummy", 403);

        var response = await host.PostAsync(await RouteAsync(host), Delivered("03-ref-update.structured.json").ToJsonString(), "application/cloudevents+json");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("DROP", (string?)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["status"]);
        Assert.Equal([$"GET {WorkloadPath("apps/v1", "deployments", Ns, "dummy")}"], host.Lines);
    }

    [Fact]
    public async Task Dapr_delivery_asks_for_a_retry_when_the_body_memory_budget_is_spent()
    {
        using var host = Start(Dapr);
        var budget = host.Services.GetRequiredService<BodyBudget>();
        using var others = budget.Open();
        others.Take(new CachierOptions().BodyMemoryBudgetBytes);

        var response = await host.PostAsync(await RouteAsync(host), Delivered("03-ref-update.structured.json").ToJsonString(), "application/cloudevents+json");

        Assert.Equal("RETRY", (string?)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["status"]);
        Assert.Empty(host.Calls);
    }

    [Fact]
    public async Task Dapr_delivery_asks_for_a_retry_when_the_body_arrives_too_slowly()
    {
        // Kestrel's minimum body data rate (a real socket: the in-memory test server has no such timeout).
        using var api = WireMock.Server.WireMockServer.Start();
        using var factory = new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            web.UseSetting("Cachier:ApiServerUrl", api.Url);
            web.UseSetting("Cachier:Authentication:Mode", "None");
            web.UseSetting("Cachier:DaprPubSubName", "pubsub");
            web.UseSetting("Cachier:DaprTopic", "workloads");
            web.ConfigureLogging(logging => logging.ClearProviders());
        });
        factory.UseKestrel(kestrel =>
        {
            kestrel.Listen(IPAddress.Loopback, 0);
            kestrel.Limits.MinRequestBodyDataRate = new MinDataRate(bytesPerSecond: 1000, gracePeriod: TimeSpan.FromSeconds(2));
        });
        factory.StartServer();
        var url = new Uri(factory.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single());
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(url.Host, url.Port);
        var stream = tcp.GetStream();

        // Promise 10,000 bytes, send 10, then nothing: the body read times out.
        await stream.WriteAsync(Encoding.ASCII.GetBytes(
            $"POST {DaprEndpoints.Route} HTTP/1.1\r\nHost: {url.Authority}\r\nContent-Type: application/cloudevents+json\r\nContent-Length: 10000\r\n\r\n{{\"specvers"));
        using var reader = new StreamReader(stream);
        var answer = await reader.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(30));

        Assert.StartsWith("HTTP/1.1 200", answer);
        Assert.Contains("{\"status\":\"RETRY\"}", answer);
        Assert.DoesNotContain(api.LogEntries, e => e.RequestMessage!.Path != ApiPaths.StartCheckPath);
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

    private static async Task<string> RouteAsync(AppHost host)
    {
        var subscriptions = JsonNode.Parse(await host.Client.GetStringAsync("/dapr/subscribe"))!.AsArray();
        return (string)subscriptions[0]!["route"]!;
    }
}
