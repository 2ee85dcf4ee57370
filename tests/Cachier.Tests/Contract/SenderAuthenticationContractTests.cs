using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Cachier.Tests.Support;
using static Cachier.Tests.Support.AppHost;
using static Cachier.Tests.Support.CloudEvents;
using static Cachier.Tests.Support.Objects;

namespace Cachier.Tests.Contract;

/// <summary>
/// SPEC section 6, "Who may call" (issue 17, part 1): POST /, /resync and the Dapr route take only a valid
/// service-account token for Cachier's audience, from a sender on the list; the issuer's keys come from the API
/// server's OIDC discovery paths, once, and not per event. Tokens here are signed by a test issuer whose keys the fake
/// API server publishes; Integration/SenderAuthenticationIntegrationTests does the same with the real API server's.
/// </summary>
public sealed class SenderAuthenticationContractTests : IDisposable
{
    private const string Source = SourceSender;
    private const string Ping = PingSender;
    private const string Uid = "5b1c7f3e-2d4a-4c8b-9e6f-0a1b2c3d4e5f";

    private readonly TestIssuer _issuer = new();

    public void Dispose() => _issuer.Dispose();

    /// <summary>The app with authentication on, and the fake API server publishing the test issuer's keys.</summary>
    private AppHost Start(params (string, string)[] more)
    {
        return StartAuthenticated(_issuer, more);
    }

    /// <summary>What events cost: every call but the reads of the issuer's keys.</summary>
    private static IReadOnlyList<string> EventCalls(AppHost host) => host.Lines;

    private static int KeyFetches(AppHost host) => host.IssuerCalls.Count(c => c.Path == KeysPath);

    private static Task<HttpResponseMessage> SendAsBearerAsync(AppHost host, string? token)
    {
        host.Client.DefaultRequestHeaders.Authorization = token is null ? null : new AuthenticationHeaderValue("Bearer", token);
        return host.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web");
    }

    private static async Task AssertRefusedAsync(AppHost host, HttpResponseMessage response, HttpStatusCode status)
    {
        var problem = await ProblemAsync(response, status);
        // Nothing about the cluster, the token or the list: only that the sender was refused.
        var text = problem.ToJsonString();
        foreach (var secret in new[] { "serviceaccount", "cachier-system", "kubernetes", Audience, "audience", "expired", "signature" })
        {
            Assert.DoesNotContain(secret, text, StringComparison.OrdinalIgnoreCase);
        }

        if (status == HttpStatusCode.Unauthorized)
        {
            Assert.Equal("Bearer", response.Headers.WwwAuthenticate.ToString());
        }

        Assert.Empty(EventCalls(host));
    }

    private void StubWeb(AppHost host)
    {
        host.StubGetWorkload("apps/v1", "deployments", Ns, "web", Deployment("web", Uid, 1, ["nginx:1.25"]));
        host.StubListImages(Ns, OurImage(Deployment("web", Uid, 1, ["nginx:1.25"]), "nginx:1.25", "i-1", "100"));
    }

    [Fact]
    public async Task Event_without_a_token_is_refused_with_401_and_no_api_call()
    {
        using var host = Start();
        StubWeb(host);

        await AssertRefusedAsync(host, await SendAsBearerAsync(host, null), HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Event_with_a_token_that_is_not_a_jwt_is_refused_with_401_and_no_api_call()
    {
        using var host = Start();
        StubWeb(host);

        await AssertRefusedAsync(host, await SendAsBearerAsync(host, "not-a-token"), HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Token_of_an_allowed_sender_is_accepted_and_the_keys_are_fetched_once_for_many_events()
    {
        using var host = Start();
        StubWeb(host);
        var token = _issuer.Token(Source, Audience);

        for (var i = 0; i < 5; i++)
        {
            Assert.Equal("reconciled", (string?)(await OutcomeAsync(await SendAsBearerAsync(host, token)))["result"]);
        }

        // The first event costs a GET and a LIST, the next ones a GET each (the memo), and nothing for the sender's
        // check: the keys were read once.
        Assert.Equal(6, EventCalls(host).Count);
        Assert.Equal(1, KeyFetches(host));
    }

    [Fact]
    public async Task Token_of_the_ping_source_may_trigger_a_resync()
    {
        using var host = Start(("Resources", "Deployment.v1.apps"));
        host.Stub("GET", "/apis/caching.internal.knative.dev/v1alpha1/images", 200, ImageList(null, []));
        host.Stub("GET", "/apis/apps/v1/deployments", 200, ResyncContractTests.WorkloadList(null));
        host.Client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", _issuer.Token(Ping, Audience));

        using var response = await host.PostAsync("/resync", "", null);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Token_of_a_sender_not_on_the_list_is_refused_with_403_and_no_api_call()
    {
        using var host = Start();
        StubWeb(host);

        await AssertRefusedAsync(host, await SendAsBearerAsync(host, _issuer.Token("system:serviceaccount:default:curious-pod", Audience)), HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task Token_for_another_audience_is_refused_with_401()
    {
        using var host = Start();
        StubWeb(host);

        await AssertRefusedAsync(host, await SendAsBearerAsync(host, _issuer.Token(Source, "https://kubernetes.default.svc.cluster.local")), HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Expired_token_is_refused_with_401()
    {
        using var host = Start();
        StubWeb(host);

        await AssertRefusedAsync(host, await SendAsBearerAsync(host, _issuer.Token(Source, Audience, lifetime: TimeSpan.FromMinutes(-5))), HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Token_with_a_corrupted_signature_is_refused_with_401()
    {
        using var host = Start();
        StubWeb(host);

        await AssertRefusedAsync(host, await SendAsBearerAsync(host, TestIssuer.CorruptSignature(_issuer.Token(Source, Audience))), HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Accepted_token_is_remembered_by_its_exact_bytes_so_a_corrupted_copy_is_still_refused()
    {
        using var host = Start();
        StubWeb(host);
        var token = _issuer.Token(Source, Audience);

        Assert.Equal(HttpStatusCode.OK, (await SendAsBearerAsync(host, token)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await SendAsBearerAsync(host, token)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsBearerAsync(host, TestIssuer.CorruptSignature(token))).StatusCode);
    }

    [Fact]
    public async Task Unsigned_token_is_refused_with_401()
    {
        using var host = Start();
        StubWeb(host);

        await AssertRefusedAsync(host, await SendAsBearerAsync(host, TestIssuer.Unsigned(_issuer.Token(Source, Audience))), HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Token_of_another_issuer_is_refused_with_401()
    {
        using var host = Start();
        StubWeb(host);

        await AssertRefusedAsync(host, await SendAsBearerAsync(host, _issuer.Token(Source, Audience, issuer: "https://evil.example")), HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Tokens_signed_by_an_unknown_key_refresh_the_keys_at_most_once_per_interval()
    {
        using var host = Start(("Authentication:KeysRefreshMinInterval", "01:00:00"));
        StubWeb(host);
        using var stranger = new TestIssuer(kid: "made-up-key");

        for (var i = 0; i < 5; i++)
        {
            await AssertRefusedAsync(host, await SendAsBearerAsync(host, stranger.Token(Source, Audience)), HttpStatusCode.Unauthorized);
        }

        // The first read, and one refresh for the unknown key id: five made-up key ids cannot cost five API calls.
        Assert.Equal(2, KeyFetches(host));
    }

    [Fact]
    public async Task Token_signed_by_a_rotated_key_is_accepted_after_one_refresh()
    {
        using var host = Start(("Authentication:KeysRefreshMinInterval", "00:00:00.001"));
        StubWeb(host);
        Assert.Equal("reconciled", (string?)(await OutcomeAsync(await SendAsBearerAsync(host, _issuer.Token(Source, Audience))))["result"]);
        using var next = new TestIssuer(kid: "rotated-key");
        host.Stub("GET", KeysPath, 200, _issuer.Jwks(next), priority: 1);

        var outcome = await OutcomeAsync(await SendAsBearerAsync(host, next.Token(Source, Audience)));

        Assert.Equal("reconciled", (string?)outcome["result"]);
        Assert.True(KeyFetches(host) == 2, string.Join(", ", host.IssuerCalls.Select(c => c.Line)));
    }

    [Fact]
    public async Task Resync_without_a_token_is_refused_without_listing_anything()
    {
        using var host = Start();

        using var response = await host.PostAsync("/resync", "", null);

        await AssertRefusedAsync(host, response, HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Issuer_keys_that_cannot_be_fetched_answer_503_with_retry_after_so_the_event_is_redelivered()
    {
        using var host = AppHost.Start(Authenticated());
        host.Stub("GET", DiscoveryPath, 503, Status(503));
        StubWeb(host);

        using var response = await SendAsBearerAsync(host, _issuer.Token(Source, Audience));

        await ProblemAsync(response, HttpStatusCode.ServiceUnavailable);
        Assert.NotNull(response.Headers.RetryAfter);
        Assert.Empty(EventCalls(host));
    }

    [Fact]
    public async Task Dapr_delivery_needs_the_app_api_token()
    {
        using var host = Start(("DaprPubSubName", "pubsub"), ("DaprTopic", "k8s"), ("Authentication:DaprApiToken", "s3cret-dapr-token"));
        var body = new JsonObject
        {
            ["specversion"] = "1.0",
            ["id"] = "1",
            ["source"] = "test",
            ["type"] = "dev.knative.apiserver.ref.update",
            ["apiversion"] = "v1",
            ["kind"] = "Secret",
            ["namespace"] = Ns,
            ["name"] = "x",
            ["data"] = new JsonObject { ["kind"] = "Secret", ["namespace"] = Ns, ["name"] = "x", ["apiVersion"] = "v1" },
        }.ToJsonString();

        using var without = await host.PostAsync("/dapr/events", body, "application/cloudevents+json");
        using var wrong = new HttpRequestMessage(HttpMethod.Post, "/dapr/events") { Content = new StringContent(body, null, "application/cloudevents+json") };
        wrong.Headers.Add("dapr-api-token", "guess");
        using var wrongResponse = await host.Client.SendAsync(wrong);
        using var right = new HttpRequestMessage(HttpMethod.Post, "/dapr/events") { Content = new StringContent(body, null, "application/cloudevents+json") };
        right.Headers.Add("dapr-api-token", "s3cret-dapr-token");
        using var rightResponse = await host.Client.SendAsync(right);

        Assert.Equal(HttpStatusCode.Unauthorized, without.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, wrongResponse.StatusCode);
        Assert.Equal(HttpStatusCode.OK, rightResponse.StatusCode);
        Assert.Equal("SUCCESS", (string?)JsonNode.Parse(await rightResponse.Content.ReadAsStringAsync())!["status"]);
        Assert.Empty(EventCalls(host));
    }

    [Theory]
    [InlineData("Authentication:Audience", "", "Cachier:Authentication:Audience")]
    [InlineData("Authentication:AllowedSubjects", "", "Cachier:Authentication:AllowedSubjects")]
    [InlineData("Authentication:AllowedSubjects", "cachier-source", "'cachier-source' is not system:serviceaccount:NAMESPACE:NAME")]
    [InlineData("DaprTopic", "k8s", "APP_API_TOKEN")]
    public void App_does_not_start_with_authentication_on_but_incomplete_and_names_the_setting(string key, string value, string named)
    {
        var e = Record.Exception(() => AppHost.Start(Authenticated((key, value), ("DaprPubSubName", key == "DaprTopic" ? "pubsub" : ""))).Dispose());

        Assert.NotNull(e);
        Assert.Contains(named, e.ToString());
    }

    [Fact]
    public void Trusting_embedded_objects_is_refused_at_start_without_authentication()
    {
        var e = Record.Exception(() => AppHost.Start(("TrustEmbeddedObjects", "true")).Dispose());

        Assert.NotNull(e);
        Assert.Contains("Cachier:TrustEmbeddedObjects requires sender authentication", e.ToString());
    }
}
