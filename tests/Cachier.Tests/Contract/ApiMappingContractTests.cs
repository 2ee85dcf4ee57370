using System.Net;
using System.Text.Json.Nodes;
using static Cachier.Tests.Support.AppHost;
using static Cachier.Tests.Support.CloudEvents;
using static Cachier.Tests.Support.Objects;

namespace Cachier.Tests.Contract;

/// <summary>
/// Issue 17, part 4: API answers mapped so that no work is lost or retried forever: a create answered 404 (namespace
/// gone) is <c>gone</c>; a 401 re-reads the credentials and retries once, then is a 503; a 410 on a continue token
/// restarts that LIST.
/// </summary>
public sealed class ApiMappingContractTests
{
    private const string Uid = "5b1c7f3e-2d4a-4c8b-9e6f-0a1b2c3d4e5f";
    private static readonly string WebPath = WorkloadPath("apps/v1", "deployments", Ns, "web");

    [Fact]
    public async Task Create_answered_404_because_the_namespace_is_gone_is_gone_and_not_retried()
    {
        using var host = Start();
        host.StubGetWorkload("apps/v1", "deployments", Ns, "web", Deployment("web", Uid, 1, ["nginx:1.25", "redis:7"]));
        host.StubListImages(Ns);
        host.StubCreate(Ns, 404);

        var outcome = await OutcomeAsync(await host.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web"));

        Assert.Equal("gone", (string?)outcome["result"]);
        Assert.Single(host.Writes);
    }

    [Fact]
    public async Task Api_401_is_retried_once_with_fresh_credentials_then_answers_503()
    {
        using var host = Start(("ApiRetries", "0"));
        host.StubGetWorkloadStatus("apps/v1", "deployments", Ns, "web", 401);

        var outcome = await OutcomeAsync(await host.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web"), HttpStatusCode.ServiceUnavailable);

        Assert.Equal("transient", (string?)outcome["result"]);
        Assert.Equal([$"GET {WebPath}", $"GET {WebPath}"], host.Lines);
    }

    [Fact]
    public async Task Expired_continue_token_restarts_that_list_instead_of_failing_the_resync()
    {
        const string Deployments = "/apis/apps/v1/deployments";
        const string Token = "page-2";
        using var host = Start(("Resources", "Deployment.v1.apps"), ("ResyncPageSize", "1"));
        host.Stub("GET", "/apis/caching.internal.knative.dev/v1alpha1/images", 200, ImageList(null, []));
        host.Stub("GET", Deployments, 200, ResyncContractTests.WorkloadList(Token, Deployment("web", Uid, 1, [])), query: [("limit", "1")], absent: ["continue"]);
        // The second page: its token has expired once (410), then it is served.
        var page2 = Request.Create().WithPath(Deployments).WithParam("continue", Token).UsingGet();
        host.Api.Given(page2).InScenario("expiry").WillSetStateTo("expired").AtPriority(1)
            .RespondWith(Response.Create().WithStatusCode(410).WithHeader("Content-Type", "application/json").WithBody(Status(410, "Expired").ToJsonString()));
        host.Api.Given(page2).InScenario("expiry").WhenStateIs("expired").AtPriority(1)
            .RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json")
                .WithBody(ResyncContractTests.WorkloadList(null, Deployment("api", "6c2d8f4e-3e5b-4d9c-8f7a-1b2c3d4e5f60", 1, [])).ToJsonString()));

        using var response = await host.PostAsync("/resync", "", null);

        var summary = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("completed", (string?)summary["result"]);
        Assert.Equal(
            [$"GET {Deployments}?limit=1", $"GET {Deployments}?limit=1&continue={Token}", $"GET {Deployments}?limit=1", $"GET {Deployments}?limit=1&continue={Token}"],
            host.Lines.Where(l => l.StartsWith($"GET {Deployments}", StringComparison.Ordinal)));
    }
}
