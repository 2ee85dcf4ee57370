using Cachier.Lab;

namespace Cachier.Tests.Source;

/// <summary>
/// The ApiServerSource adapter's delivery rules, as the stand-in keeps them: sdk-go's retries (5, exponential from
/// 50 ms) on 404, 413, 425, 429, 502, 503, 504 and on no answer; none on 500 or any other status; then the next event.
/// </summary>
public sealed class DeliveryRuleTests
{
    private static OutboundEvent Event(string name) =>
        AdapterEvents.FromWatch("ADDED", DeploymentObject(name), SourceMode.Reference, "https://10.96.0.1:443")!;

    private static Cachier.Lab.Sink SinkFor(string url, LineLog log, ITokenSource? tokens = null) =>
        new(new HttpClient(), new Uri(url), "demo", tokens, log);

    [Fact]
    public async Task A_sink_that_answers_500_gets_exactly_one_delivery()
    {
        using var sink = new RecordingSink(_ => 500);
        var log = new LineLog();

        var delivery = await SinkFor(sink.Url, log).DeliverAsync(Event("web"), CancellationToken.None);

        Assert.Equal(new Delivery(500, 1, false), delivery);
        Assert.Single(sink.Requests);
        Assert.Contains(log.Lines, l => l.Contains("dropped dev.knative.apiserver.ref.add Deployment demo/web -> 500 after 1 attempt", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(400)]
    [InlineData(401)]
    [InlineData(403)]
    [InlineData(409)]
    [InlineData(501)]
    public async Task Other_error_statuses_are_not_retried(int status)
    {
        using var sink = new RecordingSink(_ => status);

        var delivery = await SinkFor(sink.Url, new LineLog()).DeliverAsync(Event("web"), CancellationToken.None);

        Assert.Equal(new Delivery(status, 1, false), delivery);
        Assert.Single(sink.Requests);
    }

    [Fact]
    public async Task A_sink_that_answers_503_gets_1_plus_5_deliveries_with_exponential_backoff_then_the_next_event_goes()
    {
        // The first event always meets 503, the second is accepted.
        using var sink = new RecordingSink(r => r["Ce-Name"] == "first" ? 503 : 200);
        var log = new LineLog();
        var sender = SinkFor(sink.Url, log);

        var first = await sender.DeliverAsync(Event("first"), CancellationToken.None);
        var second = await sender.DeliverAsync(Event("second"), CancellationToken.None);

        Assert.Equal(new Delivery(503, 6, false), first);
        Assert.Equal(new Delivery(200, 1, true), second);
        Assert.Equal([.. Enumerable.Repeat("first", 6), "second"], sink.Requests.Select(r => r["Ce-Name"]));
        // Every retry is the same event: the same id and time.
        Assert.Single(sink.Requests.Take(6).Select(r => (r["Ce-Id"], r["Ce-Time"])).Distinct());
        // 50 + 100 + 200 + 400 + 800 ms between the first and the last attempt: about the 1.5 s a direct sink is given.
        var span = sink.Requests[5].Arrived - sink.Requests[0].Arrived;
        Assert.InRange(span.TotalMilliseconds, 1500, 5000);
        Assert.Contains(log.Lines, l => l.Contains("dropped dev.knative.apiserver.ref.add Deployment demo/first -> 503 after 6 attempts", StringComparison.Ordinal));
        Assert.Contains(log.Lines, l => l.Contains("delivered dev.knative.apiserver.ref.add Deployment demo/second -> 200 after 1 attempt", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(404)]
    [InlineData(413)]
    [InlineData(425)]
    [InlineData(429)]
    [InlineData(502)]
    [InlineData(504)]
    public async Task Retryable_statuses_are_retried_until_accepted(int status)
    {
        // Two refusals, then the sink takes it: three deliveries in all.
        var answered = 0;
        using var sink = new RecordingSink(_ => Interlocked.Increment(ref answered) <= 2 ? status : 200);

        var delivery = await SinkFor(sink.Url, new LineLog()).DeliverAsync(Event("web"), CancellationToken.None);

        Assert.Equal(new Delivery(200, 3, true), delivery);
        Assert.Equal(3, sink.Requests.Count);
    }

    [Fact]
    public async Task A_200_is_delivered_once()
    {
        using var sink = new RecordingSink();
        var log = new LineLog();

        var delivery = await SinkFor(sink.Url, log).DeliverAsync(Event("web"), CancellationToken.None);

        Assert.Equal(new Delivery(200, 1, true), delivery);
        Assert.Single(sink.Requests);
        Assert.Equal("delivered dev.knative.apiserver.ref.add Deployment demo/web -> 200 after 1 attempt", log.Lines.Single()[13..]);
    }

    [Fact]
    public async Task A_sink_that_is_not_there_is_retried_5_times_then_dropped()
    {
        var log = new LineLog();

        var delivery = await SinkFor(Ports.ClosedUrl(), log).DeliverAsync(Event("web"), CancellationToken.None);

        Assert.Equal(new Delivery(0, 6, false), delivery);
        Assert.Contains("-> no answer", log.Lines.Single(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_token_file_is_sent_as_a_bearer_token_on_every_delivery()
    {
        using var sink = new RecordingSink(r => r["Ce-Name"] == "refused" ? 503 : 200);
        var file = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(file, "first-token\n");
            var sender = SinkFor(sink.Url, new LineLog(), new FileToken(file));
            await sender.DeliverAsync(Event("refused"), CancellationToken.None);
            // A rotated token counts from the next delivery on.
            await File.WriteAllTextAsync(file, "second-token");
            await sender.DeliverAsync(Event("web"), CancellationToken.None);
        }
        finally
        {
            File.Delete(file);
        }

        Assert.Equal([.. Enumerable.Repeat("Bearer first-token", 6), "Bearer second-token"], sink.Requests.Select(r => r["Authorization"]));
    }

    [Fact]
    public async Task A_ping_is_a_binary_mode_PingSource_event_without_data()
    {
        using var sink = new RecordingSink();
        await using (var standIn = new StandIn("--sink", sink.Url, "--ping-now", "--source-namespace", "lab", "--source-name", "resync"))
        {
            await sink.WaitForAsync(r => r.Count == 1, "the ping");
        }

        var ping = Assert.Single(sink.Requests);
        Assert.Equal("dev.knative.sources.ping", ping["Ce-Type"]);
        Assert.Equal("/apis/v1/namespaces/lab/pingsources/resync", ping["Ce-Source"]);
        Assert.Equal("1.0", ping["Ce-Specversion"]);
        Assert.True(Guid.TryParse(ping["Ce-Id"], out _));
        Assert.True(DateTimeOffset.TryParse(ping["Ce-Time"], out _));
        Assert.Equal("lab", ping["Kn-Namespace"]);
        Assert.Null(ping["Ce-Subject"]);
        Assert.Null(ping["Content-Type"]);
        Assert.Equal("", ping.Body);
    }

    [Fact]
    public async Task Pings_repeat_on_their_period_and_go_to_the_ping_sink()
    {
        using var events = new RecordingSink();
        using var pings = new RecordingSink();
        await using (var standIn = new StandIn("--sink", events.Url, "--ping-sink", pings.Url, "--ping-every", "100ms"))
        {
            await pings.WaitForAsync(r => r.Count >= 3, "three pings");
        }

        Assert.Empty(events.Requests);
        Assert.All(pings.Requests, p => Assert.Equal("dev.knative.sources.ping", p["Ce-Type"]));
    }

    [Theory]
    [InlineData("apps/v1/deployments", "/apis/apps/v1/deployments", null)]
    [InlineData("v1/pods?app=web,tier!=db", "/api/v1/pods", "app=web,tier!=db")]
    [InlineData("Deployment.v1.apps", "/apis/apps/v1/deployments", null)]
    [InlineData("CronJob.v1beta1.batch?x=y", "/apis/batch/v1beta1/cronjobs", "x=y")]
    [InlineData("Foo.v1.example.cachier.dev", "/apis/example.cachier.dev/v1/foos", null)]
    public void A_resource_is_a_path_or_a_kind_with_an_optional_label_selector(string text, string path, string? selector)
    {
        var resource = ResourceSpec.Parse(text);

        Assert.Equal((path, selector), (resource.Path(null), resource.LabelSelector));
    }

    [Theory]
    [InlineData("Deployment", "deployments")]
    [InlineData("Ingress", "ingresses")]
    [InlineData("NetworkPolicy", "networkpolicies")]
    [InlineData("Endpoints", "endpoints")]
    public void The_subject_guesses_the_plural_as_the_adapter_does(string kind, string plural) =>
        Assert.Equal($"/apis/v1/namespaces/ns/{plural}/x", AdapterEvents.SelfLink("v1", kind, "ns", "x"));

    [Fact]
    public void Resource_data_is_marshalled_as_Go_marshals_a_map()
    {
        var data = AdapterEvents.GoJson(System.Text.Json.Nodes.JsonNode.Parse("""{"b":1,"a":{"z":"<&>","y":[{"d":1,"c":2}]}}""")!);

        Assert.Equal("""{"a":{"y":[{"c":2,"d":1}],"z":"\u003c\u0026\u003e"},"b":1}""", data);
    }

    [Fact]
    public async Task Bad_arguments_exit_2()
    {
        Assert.Equal(2, await SourceCommand.RunAsync(["--resource", "apps/v1/deployments"], new LineLog(), CancellationToken.None));
        Assert.Equal(2, await SourceCommand.RunAsync(["--sink", "http://x/", "--mode", "Full", "--resource", "v1/pods"], new LineLog(), CancellationToken.None));
    }

    private static System.Text.Json.Nodes.JsonObject DeploymentObject(string name) => new()
    {
        ["apiVersion"] = "apps/v1",
        ["kind"] = "Deployment",
        ["metadata"] = new System.Text.Json.Nodes.JsonObject { ["name"] = name, ["namespace"] = "demo" },
    };
}
