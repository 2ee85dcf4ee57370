using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using static Cachier.Tests.Support.AppHost;
using static Cachier.Tests.Support.CloudEvents;
using static Cachier.Tests.Support.Objects;

namespace Cachier.Tests.Contract;

/// <summary>
/// SPEC section 6: what POST / accepts and how it answers. Every rejection is application/problem+json naming what
/// was wrong, and costs no API call.
/// </summary>
public sealed class HttpContractTests
{
    private static string RefSample() => Sample("03-ref-update.structured.json");

    private static JsonObject RefSampleWithout(string attribute)
    {
        var ev = JsonNode.Parse(RefSample())!.AsObject();
        ev.Remove(attribute);
        return ev;
    }

    [Fact]
    public async Task Post_rejects_text_plain_with_415()
    {
        using var host = Start();

        var problem = await ProblemAsync(await host.PostAsync("/", RefSample(), "text/plain"), HttpStatusCode.UnsupportedMediaType);

        Assert.Contains("text/plain", (string?)problem["detail"]);
        Assert.Empty(host.Calls);
    }

    [Fact]
    public async Task Post_rejects_a_body_without_content_type_with_415()
    {
        using var host = Start();

        var structured = await ProblemAsync(await host.PostAsync("/", RefSample(), null), HttpStatusCode.UnsupportedMediaType);
        var binary = await ProblemAsync(await host.SendBinaryAsync("dev.knative.apiserver.ref.update",
            JsonNode.Parse(Sample("03-ref-update.data.json")), Extensions("apps/v1", "Deployment", Ns, "dummy"), contentType: null),
            HttpStatusCode.UnsupportedMediaType);

        Assert.Contains("Content-Type", (string?)structured["detail"]);
        Assert.Contains("Content-Type", (string?)binary["detail"]);
        Assert.Empty(host.Calls);
    }

    [Fact]
    public async Task Post_accepts_a_binary_event_without_data_and_without_content_type()
    {
        using var host = Start();

        var response = await host.SendBinaryAsync("dev.example.unknown", null, contentType: null);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("ignored", (string?)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["outcome"]!["result"]);
        Assert.Empty(host.Calls);
    }

    [Fact]
    public async Task Post_rejects_malformed_structured_json_with_400()
    {
        using var host = Start();

        var problem = await ProblemAsync(await host.SendStructuredAsync("{\"specversion\": \"1.0\", \"id\": "), HttpStatusCode.BadRequest);

        Assert.Contains("malformed", (string?)problem["detail"], StringComparison.OrdinalIgnoreCase);
        Assert.Empty(host.Calls);
    }

    [Theory]
    [InlineData("id")]
    [InlineData("source")]
    [InlineData("type")]
    public async Task Post_rejects_a_structured_event_missing_a_required_attribute_with_400(string attribute)
    {
        using var host = Start();

        var problem = await ProblemAsync(await host.SendStructuredAsync(RefSampleWithout(attribute).ToJsonString()), HttpStatusCode.BadRequest);

        Assert.Contains(attribute, (string?)problem["detail"]);
        Assert.Empty(host.Calls);
    }

    [Theory]
    [InlineData("id")]
    [InlineData("source")]
    [InlineData("type")]
    public async Task Post_rejects_a_binary_event_missing_a_required_attribute_with_400(string attribute)
    {
        using var host = Start();

        var response = await host.SendBinaryAsync("dev.knative.apiserver.ref.update", JsonNode.Parse(Sample("03-ref-update.data.json")),
            Extensions("apps/v1", "Deployment", Ns, "dummy"), new Dictionary<string, string> { ["ce-" + attribute] = "" });

        var problem = await ProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Contains(attribute, (string?)problem["detail"]);
        Assert.Empty(host.Calls);
    }

    [Fact]
    public async Task Post_rejects_an_unsupported_specversion_with_400()
    {
        using var host = Start();

        var response = await host.SendBinaryAsync("dev.knative.apiserver.ref.update", JsonNode.Parse(Sample("03-ref-update.data.json")),
            Extensions("apps/v1", "Deployment", Ns, "dummy"), new Dictionary<string, string> { ["ce-specversion"] = "0.1" });

        var problem = await ProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Contains("specversion", (string?)problem["detail"]);
        Assert.Contains("0.1", (string?)problem["detail"]);
        Assert.Empty(host.Calls);
    }

    [Fact]
    public async Task Post_rejects_an_event_that_names_no_workload_with_400()
    {
        using var host = Start();

        var response = await host.SendBinaryAsync("dev.knative.apiserver.ref.update", new JsonObject());

        var problem = await ProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Contains("names no workload", (string?)problem["detail"]);
        Assert.Empty(host.Calls);
    }

    [Theory]
    [InlineData("../x")]
    [InlineData("Demo")]
    [InlineData("demo/../../kube-system")]
    public async Task Post_rejects_an_invalid_namespace_with_400(string ns)
    {
        using var host = Start();

        var response = await host.SendBinaryAsync("dev.knative.apiserver.ref.update",
            new JsonObject { ["kind"] = "Deployment", ["namespace"] = ns, ["name"] = "web", ["apiVersion"] = "apps/v1" },
            new Dictionary<string, string> { ["apiversion"] = "apps/v1", ["kind"] = "Deployment", ["namespace"] = Uri.EscapeDataString(ns), ["name"] = "web" });

        var problem = await ProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Contains("namespace", (string?)problem["detail"]);
        Assert.Empty(host.Calls);
    }

    [Fact]
    public async Task Post_rejects_a_body_over_the_limit_with_413()
    {
        using var host = Start(("MaxRequestBodyBytes", "1024"));
        var ev = JsonNode.Parse(RefSample())!.AsObject();
        ev["padding"] = new string('x', 2048);

        var problem = await ProblemAsync(await host.SendStructuredAsync(ev.ToJsonString()), HttpStatusCode.RequestEntityTooLarge);

        Assert.Contains("1024", (string?)problem["detail"]);
        Assert.Empty(host.Calls);
    }

    [Fact]
    public async Task Post_rejects_a_chunked_body_over_the_limit_with_413()
    {
        using var host = Start(("MaxRequestBodyBytes", "1024"));
        var ev = JsonNode.Parse(RefSample())!.AsObject();
        ev["padding"] = new string('x', 4096);
        // A non-seekable stream: no Content-Length, so the limit must be enforced while reading.
        var content = new StreamContent(new UnknownLengthStream(Encoding.UTF8.GetBytes(ev.ToJsonString())));
        content.Headers.ContentType = new("application/cloudevents+json");

        var problem = await ProblemAsync(await host.Client.PostAsync("/", content), HttpStatusCode.RequestEntityTooLarge);

        Assert.Contains("1024", (string?)problem["detail"]);
        Assert.Empty(host.Calls);
    }

    [Fact]
    public async Task Post_accepts_a_body_at_the_limit()
    {
        using var host = Start(("MaxRequestBodyBytes", "1024"));
        var body = Sample("04-ref-delete.via-broker.structured.json");
        Assert.True(Encoding.UTF8.GetByteCount(body) <= 1024);

        var outcome = await OutcomeAsync(await host.SendStructuredAsync(body));

        Assert.Equal("deleted", (string?)outcome["result"]);
    }

    [Fact]
    public async Task Post_handles_a_batch_event_by_event_and_answers_a_json_array()
    {
        using var host = Start();
        host.StubGetWorkload("apps/v1", "deployments", Ns, "dummy", JsonNode.Parse(Sample("01-resource-add.data.json"))!);
        host.StubListImages(Ns);
        host.StubCreate(Ns);
        var batch = new JsonArray(
            JsonNode.Parse(Sample("01-resource-add.structured.json")),
            JsonNode.Parse(Sample("04-ref-delete.via-broker.structured.json")));

        var response = await host.SendStructuredAsync(batch.ToJsonString(), "application/cloudevents-batch+json");

        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var results = JsonNode.Parse(text)!.AsArray();
        Assert.Equal(2, results.Count);
        Assert.Equal("dev.knative.apiserver.resource.add", (string?)results[0]!["type"]);
        Assert.Equal("reconciled", (string?)results[0]!["outcome"]!["result"]);
        Assert.Equal(1, (int?)results[0]!["outcome"]!["created"]);
        Assert.Equal("dev.knative.apiserver.ref.delete", (string?)results[1]!["type"]);
        Assert.Equal("deleted", (string?)results[1]!["outcome"]!["result"]);
        Assert.Equal(["GET", "GET", "POST"], host.Calls.Select(c => c.Method));
    }

    [Fact]
    public async Task Post_answers_an_event_type_it_does_not_handle_with_200_ignored()
    {
        using var host = Start();
        var ev = JsonNode.Parse(RefSample())!.AsObject();
        ev["type"] = "com.example.something.happened";

        var outcome = await OutcomeAsync(await host.SendStructuredAsync(ev.ToJsonString()));

        Assert.Equal("ignored", (string?)outcome["result"]);
        Assert.Empty(host.Calls);
    }

    [Theory]
    [InlineData("/health/liveness")]
    [InlineData("/health/readiness")]
    public async Task Health_endpoints_answer_200(string path)
    {
        using var host = Start();

        var response = await host.Client.GetAsync(path);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Empty(host.Calls);
    }

    [Fact]
    public async Task Metrics_are_served_in_prometheus_text_format()
    {
        using var host = Start();
        await OutcomeAsync(await host.SendStructuredAsync(Sample("04-ref-delete.via-broker.structured.json")));

        var response = await host.Client.GetAsync("/metrics");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("cachier_events_handled_total", await response.Content.ReadAsStringAsync());
    }

    /// <summary>Hides the length, as a streamed (chunked) upload does.</summary>
    private sealed class UnknownLengthStream(byte[] bytes) : Stream
    {
        private readonly MemoryStream _inner = new(bytes);

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, count);

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            _inner.Dispose();
            base.Dispose(disposing);
        }
    }
}
