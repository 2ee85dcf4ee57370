using System.Net;
using static Cachier.Tests.Support.AppHost;
using static Cachier.Tests.Support.CloudEvents;
using static Cachier.Tests.Support.Objects;

namespace Cachier.Tests.Contract;

/// <summary>
/// SPEC section 6: a transient API-server failure is a 503 with Retry-After (a direct ApiServerSource sink retries
/// 503, not 500); a permanent one (403 from missing RBAC) is a 500 with outcome "failed".
/// </summary>
public sealed class ApiFailureContractTests
{
    private const string Uid = "5b1c7f3e-2d4a-4c8b-9e6f-0a1b2c3d4e5f";

    [Theory]
    [InlineData(500)]
    [InlineData(502)]
    [InlineData(503)]
    [InlineData(429)]
    public async Task Reconcile_answers_503_with_retry_after_when_the_api_server_fails_transiently(int status)
    {
        using var host = Start();
        host.StubGetWorkloadStatus("apps/v1", "deployments", Ns, "web", status);

        var response = await host.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web");

        var outcome = await OutcomeAsync(response, HttpStatusCode.ServiceUnavailable);
        Assert.True(RetryAfterSeconds(response) >= 1, "Retry-After must be at least one second");
        Assert.Equal("transient", (string?)outcome["result"]);
        // Cachier may retry the GET in-process (bounded); it never goes on to LIST or write.
        Assert.NotEmpty(host.Lines);
        Assert.All(host.Lines, line => Assert.Equal($"GET {WorkloadPath("apps/v1", "deployments", Ns, "web")}", line));
    }

    [Fact]
    public async Task Reconcile_passes_on_the_retry_after_of_a_429()
    {
        using var host = Start();
        host.StubGetWorkloadStatus("apps/v1", "deployments", Ns, "web", 429, ("Retry-After", "3"));

        var response = await host.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web");

        await OutcomeAsync(response, HttpStatusCode.ServiceUnavailable);
        Assert.True(RetryAfterSeconds(response) >= 3, $"Retry-After {RetryAfterSeconds(response)} is shorter than the API server asked for");
    }

    [Fact]
    public async Task Reconcile_answers_503_when_a_list_fails_transiently()
    {
        using var host = Start();
        host.StubGetWorkload("apps/v1", "deployments", Ns, "web", Deployment("web", Uid, 1, ["nginx:1.25"]));
        host.StubListImagesStatus(Ns, 503);

        var response = await host.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web");

        await OutcomeAsync(response, HttpStatusCode.ServiceUnavailable);
        Assert.True(RetryAfterSeconds(response) >= 1);
        Assert.Empty(host.Writes);
    }

    [Fact]
    public async Task Reconcile_answers_503_when_the_api_server_does_not_answer_within_the_timeout()
    {
        using var host = Start(("ApiTimeout", "00:00:01"));
        host.Stub("GET", WorkloadPath("apps/v1", "deployments", Ns, "web"), 200, Deployment("web", Uid, 1, ["nginx:1.25"]),
            delay: TimeSpan.FromSeconds(4));

        var response = await host.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web");

        var outcome = await OutcomeAsync(response, HttpStatusCode.ServiceUnavailable);
        Assert.True(RetryAfterSeconds(response) >= 1);
        Assert.Equal("transient", (string?)outcome["result"]);
    }

    [Fact]
    public async Task Reconcile_answers_503_when_the_api_server_refuses_the_connection()
    {
        using var host = Start(Ports.ClosedUrl());

        var response = await host.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web");

        var outcome = await OutcomeAsync(response, HttpStatusCode.ServiceUnavailable);
        Assert.True(RetryAfterSeconds(response) >= 1);
        Assert.Equal("transient", (string?)outcome["result"]);
    }

    [Fact]
    public async Task Reconcile_answers_500_failed_when_rbac_forbids_the_get()
    {
        using var host = Start();
        host.StubGetWorkloadStatus("apps/v1", "deployments", Ns, "web", 403);

        var response = await host.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web");

        var outcome = await OutcomeAsync(response, HttpStatusCode.InternalServerError);
        Assert.Equal("failed", (string?)outcome["result"]);
        Assert.Equal([$"GET {WorkloadPath("apps/v1", "deployments", Ns, "web")}"], host.Lines);
    }

    [Fact]
    public async Task Reconcile_answers_500_failed_when_rbac_forbids_creating_images()
    {
        using var host = Start();
        host.StubGetWorkload("apps/v1", "deployments", Ns, "web", Deployment("web", Uid, 1, ["nginx:1.25"]));
        host.StubListImages(Ns);
        host.StubCreate(Ns, 403);

        var response = await host.SendRefAsync("add", "apps/v1", "Deployment", Ns, "web");

        var outcome = await OutcomeAsync(response, HttpStatusCode.InternalServerError);
        Assert.Equal("failed", (string?)outcome["result"]);
    }

    private static double RetryAfterSeconds(HttpResponseMessage response)
    {
        Assert.True(response.Headers.Contains("Retry-After"), "a 503 must carry Retry-After");
        var value = response.Headers.RetryAfter!;
        return value.Delta?.TotalSeconds ?? (value.Date!.Value - DateTimeOffset.UtcNow).TotalSeconds;
    }
}
