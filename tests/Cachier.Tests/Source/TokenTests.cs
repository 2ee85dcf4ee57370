using System.Globalization;
using System.Text.Json.Nodes;
using Cachier.Lab;

namespace Cachier.Tests.Source;

/// <summary>The sender identity's token from the TokenRequest API: asked for once, cached, renewed before it expires.</summary>
public sealed class TokenTests
{
    [Fact]
    public async Task The_token_is_requested_once_for_the_audience_and_renewed_after_80_percent_of_its_hour()
    {
        var clock = new Clock(DateTimeOffset.Parse("2026-12-01T10:00:00Z", CultureInfo.InvariantCulture));
        using var api = WireMockServer.Start();
        var issued = 0;
        api.Given(Request.Create().UsingPost().WithPath("/api/v1/namespaces/lab/serviceaccounts/sender/token"))
            .RespondWith(Response.Create().WithCallback(_ => new WireMock.ResponseMessage
            {
                StatusCode = 201,
                BodyData = new WireMock.Util.BodyData
                {
                    DetectedBodyType = WireMock.Types.BodyType.String,
                    BodyAsString = new JsonObject
                    {
                        ["kind"] = "TokenRequest",
                        ["apiVersion"] = "authentication.k8s.io/v1",
                        ["status"] = new JsonObject
                        {
                            ["token"] = $"token-{Interlocked.Increment(ref issued)}",
                            ["expirationTimestamp"] = (clock.GetUtcNow() + TimeSpan.FromHours(1)).ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
                        },
                    }.ToJsonString(),
                },
            }));
        var kubeconfig = FakeKubeconfig.Write(api.Url!);
        try
        {
            using var server = new ApiServer(kubeconfig);
            var tokens = new ServiceAccountToken(server, "lab", "sender", "cachier.test/events", TimeSpan.FromHours(1), clock);

            var first = await tokens.GetAsync(CancellationToken.None);
            clock.Advance(TimeSpan.FromMinutes(47));
            var cached = await tokens.GetAsync(CancellationToken.None);
            clock.Advance(TimeSpan.FromMinutes(2));
            var renewed = await tokens.GetAsync(CancellationToken.None);

            Assert.Equal(("token-1", "token-1", "token-2"), (first, cached, renewed));
            var request = JsonNode.Parse(api.LogEntries.First().RequestMessage!.Body!)!;
            Assert.Equal("""{"audiences":["cachier.test/events"],"expirationSeconds":3600}""", request["spec"]!.ToJsonString());
            Assert.Equal("Bearer lab", api.LogEntries.First().RequestMessage!.Headers!["Authorization"][0]);
        }
        finally
        {
            File.Delete(kubeconfig);
        }
    }

    private sealed class Clock(DateTimeOffset now) : TimeProvider
    {
        private DateTimeOffset _now = now;

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }
}
