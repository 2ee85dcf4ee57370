using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Cachier.Http;
using Dapr;
using Dapr.AspNetCore;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Logging;
using static Cachier.Tests.Support.AppHost;
using static Cachier.Tests.Support.CloudEvents;
using static Cachier.Tests.Support.Objects;

namespace Cachier.Tests.Contract;

/// <summary>
/// Dapr.AspNetCore is the reference for Cachier's Dapr routes (which it cannot use: under Native AOT its middleware and
/// subscription handler fail). A JIT host built on the package, <c>MapSubscribeHandler</c> + a topic on the endpoint's
/// metadata + <c>UseCloudEvents</c>, gets the same requests as Cachier, the way the Dapr sidecar sends them; the tests
/// compare the answers. Where the two differ by design, the difference is asserted and the reason given.
/// </summary>
public sealed class DaprReferenceTests
{
    private const string PubSub = "pubsub";
    private const string Topic = "workloads";
    private static readonly (string, string)[] Dapr = [("DaprPubSubName", PubSub), ("DaprTopic", Topic)];

    [Fact]
    public async Task Subscription_document_is_the_packages_for_the_same_topic_route_and_dead_letter_topic()
    {
        await using var reference = await DaprReference.StartAsync(PubSub, Topic, DaprEndpoints.DeadLetterTopic(new() { DaprTopic = Topic }));
        using var cachier = Start(Dapr);

        var expected = JsonNode.Parse(await reference.Client.GetStringAsync("/dapr/subscribe"))!.AsArray();
        var actual = JsonNode.Parse(await cachier.Client.GetStringAsync("/dapr/subscribe"))!.AsArray();

        Assert.Equal(Normalized(expected), Normalized(actual));
    }

    public static TheoryData<string, bool> Deliveries() => new()
    {
        { "01-resource-add.structured.json", false },
        { "03-ref-update.structured.json", false },
        { "03-ref-update.structured.json", true },
    };

    /// <summary>
    /// Both take the same workload from a delivery: the package's handler gets the event's <c>data</c> (and its content
    /// type), Cachier acts on the object that data names. Cachier binds the whole event, unlike the package's handler,
    /// which is given only <c>data</c>: the event type (add, update, delete) and the source's extensions are not in it.
    /// </summary>
    [Theory]
    [MemberData(nameof(Deliveries))]
    public async Task Delivery_of_a_structured_cloudevent_reaches_the_workload_the_packages_handler_is_given(string sample, bool publishedAsPlainJson)
    {
        await using var reference = await DaprReference.StartAsync(PubSub, Topic, $"{Topic}-deadletter");
        using var cachier = Start(Dapr);
        cachier.StubGetWorkload("apps/v1", "deployments", Ns, "dummy", JsonNode.Parse(Sample("01-resource-add.data.json"))!);
        cachier.StubListImages(Ns);
        cachier.StubCreate(Ns);
        var sent = SidecarDelivery(sample, publishedAsPlainJson);

        var expected = await reference.PostAsync(sent);
        var actual = await cachier.PostAsync(DaprEndpoints.Route, sent, CloudEventBinding.StructuredMediaType);

        var given = Assert.Single(reference.Received);
        Assert.Equal("application/json", given.ContentType);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(sent)!["data"], JsonNode.Parse(given.Body)), given.Body);
        if (!publishedAsPlainJson)
        {
            // The difference by design: the event's attributes, its type among them, never reach the package's handler.
            Assert.Null(JsonNode.Parse(given.Body)!["specversion"]);
        }

        var data = (publishedAsPlainJson ? JsonNode.Parse(given.Body)! : JsonNode.Parse(sent)!)["data"]!;
        var (ns, name) = ((string)(data["metadata"]?["namespace"] ?? data["namespace"])!, (string)(data["metadata"]?["name"] ?? data["name"])!);
        Assert.Equal($"GET {WorkloadPath("apps/v1", "deployments", ns, name)}", cachier.Lines[0]);
        Assert.Equal((HttpStatusCode.OK, "SUCCESS"), (expected.StatusCode, await StatusAsync(expected)));
        Assert.Equal((HttpStatusCode.OK, "SUCCESS"), (actual.StatusCode, await StatusAsync(actual)));
        Assert.Equal(expected.Content.Headers.ContentType?.MediaType, actual.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Every_status_cachier_answers_is_one_of_the_packages_delivery_statuses()
    {
        using var cachier = Start(Dapr);
        cachier.StubGetWorkload("apps/v1", "deployments", Ns, "dummy", JsonNode.Parse(Sample("01-resource-add.data.json"))!);
        cachier.StubListImages(Ns);
        cachier.StubCreate(Ns);
        var answers = new List<string>();
        answers.Add(await StatusAsync(await cachier.PostAsync(DaprEndpoints.Route, SidecarDelivery("03-ref-update.structured.json", false), CloudEventBinding.StructuredMediaType)));
        answers.Add(await StatusAsync(await cachier.PostAsync(DaprEndpoints.Route, "{", CloudEventBinding.StructuredMediaType)));
        cachier.Api.Reset();
        cachier.StubGetWorkloadStatus("apps/v1", "deployments", Ns, "dummy", 503);
        answers.Add(await StatusAsync(await cachier.PostAsync(DaprEndpoints.Route, SidecarDelivery("03-ref-update.structured.json", false), CloudEventBinding.StructuredMediaType)));

        Assert.Equal(["SUCCESS", "DROP", "RETRY"], answers);
        Assert.All(answers, a => Assert.Contains(a, Enum.GetNames<BulkSubscribeAppResponseStatus>()));
    }

    /// <summary>
    /// A delivery that can never be read: the package's middleware answers 400 (both <c>data</c> and
    /// <c>data_base64</c>) or throws (500, not JSON) before any handler runs, and the sidecar retries any answer but
    /// 200 and 404 for ever. Cachier answers 200 DROP, so the sidecar moves it to the dead-letter topic instead.
    /// </summary>
    [Theory]
    [InlineData("both data and data_base64")]
    [InlineData("not JSON")]
    public async Task Unreadable_delivery_is_dropped_by_cachier_where_the_package_answers_an_error_status(string fault)
    {
        await using var reference = await DaprReference.StartAsync(PubSub, Topic, $"{Topic}-deadletter");
        using var cachier = Start(Dapr);
        var ev = JsonNode.Parse(SidecarDelivery("03-ref-update.structured.json", false))!.AsObject();
        ev["data_base64"] = Convert.ToBase64String(Encoding.UTF8.GetBytes("{}"));
        var sent = fault == "not JSON" ? "{\"specversion\": " : ev.ToJsonString();

        var expected = await reference.PostAsync(sent);
        var actual = await cachier.PostAsync(DaprEndpoints.Route, sent, CloudEventBinding.StructuredMediaType);

        Assert.Empty(reference.Received);
        Assert.True(expected.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.InternalServerError, $"{(int)expected.StatusCode}");
        Assert.Equal((HttpStatusCode.OK, "DROP"), (actual.StatusCode, await StatusAsync(actual)));
        Assert.Empty(cachier.Calls);
    }

    /// <summary>
    /// The ApiServerSource event as the Dapr sidecar delivers it: structured, with Dapr's extensions added; or, when the
    /// publisher sent it as plain JSON, as the data of Dapr's own envelope (<c>com.dapr.event.sent</c>).
    /// </summary>
    private static string SidecarDelivery(string sample, bool publishedAsPlainJson)
    {
        var dapr = new JsonObject
        {
            ["pubsubname"] = PubSub,
            ["topic"] = Topic,
            ["traceid"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ["traceparent"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ["tracestate"] = "",
        };
        var ev = JsonNode.Parse(Sample(sample))!.AsObject();
        if (publishedAsPlainJson)
        {
            ev = new JsonObject
            {
                ["specversion"] = "1.0",
                ["id"] = Guid.NewGuid().ToString(),
                ["source"] = "cachier-publisher",
                ["type"] = "com.dapr.event.sent",
                ["datacontenttype"] = "application/json",
                ["data"] = ev,
            };
        }

        foreach (var (key, value) in dapr)
        {
            ev[key] = value!.DeepClone();
        }

        return ev.ToJsonString();
    }

    private static async Task<string> StatusAsync(HttpResponseMessage response) =>
        (string)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["status"]!;

    /// <summary>
    /// The sidecar reads the subscription list with Go's encoding/json, which matches member names case-insensitively,
    /// and routes to the path with or without its leading slash: the normal form keeps only what it acts on.
    /// </summary>
    private static List<string> Normalized(JsonArray subscriptions) =>
        subscriptions.Select(s => string.Join(", ", s!.AsObject()
                .Select(p => (Key: p.Key.ToLowerInvariant(), Value: p.Key == "route" ? ((string)p.Value!).TrimStart('/') : p.Value!.ToJsonString()))
                .OrderBy(p => p.Key, StringComparer.Ordinal)
                .Select(p => $"{p.Key}={p.Value}")))
            .ToList();

    /// <summary>What the package's handler was given: the request body and content type after UseCloudEvents.</summary>
    private sealed record Given(string? ContentType, string Body);

    /// <summary>A subscriber written the way the package documents it, answering SUCCESS to what it is given.</summary>
    private sealed class DaprReference : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly ConcurrentQueue<Given> _received = new();

        private DaprReference(WebApplication app)
        {
            _app = app;
        }

        public HttpClient Client { get; private set; } = null!;

        public IReadOnlyList<Given> Received => _received.ToList();

        public static async Task<DaprReference> StartAsync(string pubsub, string topic, string deadLetterTopic)
        {
            var builder = WebApplication.CreateBuilder();
            builder.WebHost.UseTestServer();
            builder.Logging.ClearProviders();
            var app = builder.Build();
            var reference = new DaprReference(app);
            // As Kestrel answers an exception the app let through (the in-memory server would throw it at the client).
            app.Use(async (context, next) =>
            {
                try
                {
                    await next(context);
                }
                catch (Exception) when (!context.Response.HasStarted)
                {
                    context.Response.StatusCode = StatusCodes.Status500InternalServerError;
                }
            });
            app.UseCloudEvents();
            app.MapSubscribeHandler();
            app.MapPost(DaprEndpoints.Route, async (HttpRequest request) =>
            {
                using var reader = new StreamReader(request.Body);
                reference._received.Enqueue(new Given(request.ContentType, await reader.ReadToEndAsync()));
                return Results.Json(new { status = nameof(BulkSubscribeAppResponseStatus.SUCCESS) });
            }).WithTopic(new TopicOptions { PubsubName = pubsub, Name = topic, DeadLetterTopic = deadLetterTopic });
            await app.StartAsync();
            reference.Client = app.GetTestClient();
            return reference;
        }

        public Task<HttpResponseMessage> PostAsync(string body)
        {
            var content = new StringContent(body, Encoding.UTF8);
            content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(CloudEventBinding.StructuredMediaType);
            return Client.PostAsync(DaprEndpoints.Route, content);
        }

        public async ValueTask DisposeAsync()
        {
            Client.Dispose();
            await _app.DisposeAsync();
        }
    }
}
