using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace Cachier.Tests.Reliability;

/// <summary>One request of testassets/hostile/corpus.jsonl (written by generate.py beside it).</summary>
public sealed record HostileCase(string Id, string Category, string Description, JsonObject Raw)
{
    private static readonly Lazy<IReadOnlyDictionary<string, HostileCase>> All = new(Load);

    public static IReadOnlyDictionary<string, HostileCase> Corpus => All.Value;

    public IReadOnlyList<int> Statuses => Raw["expect"]!["status"]!.AsArray().Select(s => (int)s!).ToList();

    public string? Result => (string?)Raw["expect"]!["result"];

    /// <summary>Sent to the app with sender authentication on.</summary>
    public bool Authenticated => (bool?)Raw["auth"] == true;

    /// <summary>What Cachier does instead, while a defect keeps it from meeting the expectation.</summary>

    public HttpRequestMessage ToRequest()
    {
        var request = new HttpRequestMessage(new HttpMethod((string)Raw["method"]!), (string)Raw["path"]!);
        var body = Body();
        HttpContent content = Raw["chunked"] is not null ? new ChunkedContent(body) : new ByteArrayContent(body);
        if ((string?)Raw["contentType"] is { } contentType)
        {
            Assert.True(content.Headers.TryAddWithoutValidation("Content-Type", contentType), $"{Id}: Content-Type not accepted by HttpClient");
        }

        request.Content = content;
        foreach (var pair in Raw["headers"]!.AsArray())
        {
            Assert.True(request.Headers.TryAddWithoutValidation((string)pair![0]!, (string)pair[1]!), $"{Id}: header {pair[0]} not accepted by HttpClient");
        }

        return request;
    }

    private byte[] Body()
    {
        if ((string?)Raw["body"] is { } text)
        {
            return Encoding.UTF8.GetBytes(text);
        }

        if ((string?)Raw["bodyBase64"] is { } base64)
        {
            return Convert.FromBase64String(base64);
        }

        if (Raw["bodyRepeat"] is JsonObject repeat)
        {
            var unit = Encoding.UTF8.GetBytes((string)repeat["unit"]!);
            using var buffer = new MemoryStream();
            buffer.Write(Encoding.UTF8.GetBytes((string)repeat["head"]!));
            for (var i = 0; i < (int)repeat["count"]!; i++)
            {
                buffer.Write(unit);
            }

            buffer.Write(Encoding.UTF8.GetBytes((string)repeat["tail"]!));
            return buffer.ToArray();
        }

        return [];
    }

    public override string ToString() => Id;

    private static IReadOnlyDictionary<string, HostileCase> Load()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "testassets", "hostile", "corpus.jsonl");
        return File.ReadLines(path)
            .Where(line => line.Length > 0)
            .Select(line => JsonNode.Parse(line)!.AsObject())
            .Select(o => new HostileCase((string)o["id"]!, (string)o["category"]!, (string?)o["description"] ?? "", o))
            .ToDictionary(c => c.Id, StringComparer.Ordinal);
    }

    /// <summary>A body sent without Content-Length, in small chunks.</summary>
    private sealed class ChunkedContent(byte[] bytes) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            for (var offset = 0; offset < bytes.Length; offset += 64 * 1024)
            {
                await stream.WriteAsync(bytes.AsMemory(offset, Math.Min(64 * 1024, bytes.Length - offset)));
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}

/// <summary>
/// One API server that must never be called (but for the token issuer's keys), and two apps, shared by the corpus (its
/// cases run one after another): one with sender authentication on, as knative/ deploys it, for the cases that test the
/// sender check; one with it off, for the cases that test what lies behind it.
/// </summary>
public sealed class HostileFixture : IDisposable
{
    private readonly Support.TestIssuer _issuer = new();

    public HostileFixture()
    {
        Api = WireMockServer.Start();
        // Any request at all is a failure of the test; answer something that would make it visible too.
        Api.Given(Request.Create().UsingAnyMethod()).AtPriority(100).RespondWith(Response.Create().WithStatusCode(500));
        Api.Given(Request.Create().WithPath(AppHost.DiscoveryPath).UsingGet()).AtPriority(1)
            .RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json").WithBody(_issuer.Discovery().ToJsonString()));
        Api.Given(Request.Create().WithPath(AppHost.KeysPath).UsingGet()).AtPriority(1)
            .RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json").WithBody(_issuer.Jwks().ToJsonString()));
        App = ApiFaultTests.Reliable(Api.Url!);
        AuthenticatedApp = ApiFaultTests.Reliable(Api.Url!, AppHost.Authenticated(("Authentication:KeysRefreshMinInterval", "01:00:00")));
    }

    public WireMockServer Api { get; }

    public AppHost App { get; }

    public AppHost AuthenticatedApp { get; }

    /// <summary>Calls other than the reads of the issuer's keys and the start-up check.</summary>
    public int EventCalls => Api.LogEntries.Count(e => e.RequestMessage!.Path is not (AppHost.DiscoveryPath or AppHost.KeysPath or ApiPaths.StartCheckPath));

    public int KeyReads => Api.LogEntries.Count(e => e.RequestMessage!.Path == AppHost.KeysPath);

    public void Dispose()
    {
        App.Dispose();
        AuthenticatedApp.Dispose();
        Api.Stop();
        Api.Dispose();
        _issuer.Dispose();
    }
}

/// <summary>
/// Issue 8, hostile input: every request of the corpus gets 400/413/415 (or 404/405 off the event route) or a 200
/// <c>ignored</c> with a reason; never a 5xx, never an API call (so never an Image, and never a URL built from
/// unvalidated input), never a header echoed from the input.
/// </summary>
public sealed class HostileInputTests(HostileFixture fixture) : IClassFixture<HostileFixture>
{
    public static TheoryData<string> Cases() => new(HostileCase.Corpus.Values.Select(c => c.Id));


    [Fact]
    public void The_corpus_holds_at_least_200_cases_of_every_kind_the_issue_names()
    {
        var categories = HostileCase.Corpus.Values.GroupBy(c => c.Category).ToDictionary(g => g.Key, g => g.Count());
        Assert.True(HostileCase.Corpus.Count >= 200, $"{HostileCase.Corpus.Count} cases");
        foreach (var category in new[] { "invalid-json", "wrong-type", "huge", "deep", "content-type", "header-injection", "not-utf8",
            "cloudevent", "name", "namespace", "kind", "claim", "unauthenticated", "oversized" })
        {
            Assert.True(categories.GetValueOrDefault(category) > 0, $"no case of category {category}");
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public Task Hostile_request_is_rejected_or_ignored_without_any_api_call(string id) => AssertRejectedOrIgnoredAsync(id);

    private async Task AssertRejectedOrIgnoredAsync(string id)
    {
        var @case = HostileCase.Corpus[id];
        var callsBefore = fixture.EventCalls;

        using var request = @case.ToRequest();
        using var response = await (@case.Authenticated ? fixture.AuthenticatedApp : fixture.App).Client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();

        var status = (int)response.StatusCode;
        Assert.True(status < 500, $"{id} ({@case.Description}): {status} {text}");
        Assert.True(@case.Statuses.Contains(status), $"{id} ({@case.Description}): expected {string.Join(" or ", @case.Statuses)}, got {status}: {Clip(text)}");
        Assert.Equal(callsBefore, fixture.EventCalls);
        // Made-up key ids refresh the issuer's keys at most once per interval (an hour here): the first read and one more.
        Assert.True(fixture.KeyReads <= 2, $"{id}: the issuer's keys were read {fixture.KeyReads} times");
        Assert.DoesNotContain(response.Headers.Concat(response.Content.Headers), h =>
            h.Key.StartsWith("ce-", StringComparison.OrdinalIgnoreCase) || h.Key is "X-Injected" or "Set-Cookie");

        if (status is 400 or 401 or 403 or 413 or 415)
        {
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            Assert.False(string.IsNullOrWhiteSpace((string?)JsonNode.Parse(text)!["detail"]), $"{id}: a rejection says why");
        }

        if (status == 200)
        {
            Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
            var answer = JsonNode.Parse(text)!;
            var outcomes = answer is JsonArray batch ? batch.Select(h => h!["outcome"]!).ToList() : [answer["outcome"]!];
            Assert.NotEmpty(outcomes);
            foreach (var outcome in outcomes)
            {
                Assert.Equal(@case.Result ?? "ignored", (string?)outcome["result"]);
                Assert.False(string.IsNullOrWhiteSpace((string?)outcome["reason"]), $"{id}: an ignored event says why");
            }
        }
    }

    private static string Clip(string text) => text.Length > 400 ? text[..400] + "..." : text;
}
