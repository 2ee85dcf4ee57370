using System.Net;
using System.Text.Json.Nodes;
using Cachier.Domain;
using Cachier.Http;
using Cachier.Reconcile;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using static Cachier.Tests.Support.AppHost;
using static Cachier.Tests.Support.CloudEvents;
using static Cachier.Tests.Support.Objects;

namespace Cachier.Tests.Contract;

/// <summary>
/// SPEC section 6, "Bounds" (issue 17, part 3): a batch holds at most MaxBatchEvents; a resync within
/// ResyncMinInterval of the last completed one answers that run's summary; bodies held at once stay within a memory
/// budget; running out of memory on the request path is a 503 (redelivered), never a 500 (dropped).
/// </summary>
public sealed class BoundsContractTests
{
    private const string ImagesCollection = "/apis/caching.internal.knative.dev/v1alpha1/images";
    private const string Deployments = "/apis/apps/v1/deployments";

    private static string Batch(int events) => new JsonArray(Enumerable.Range(0, events).Select(i => (JsonNode)new JsonObject
    {
        ["specversion"] = "1.0",
        ["id"] = $"e{i}",
        ["source"] = "https://10.96.0.1:443",
        ["type"] = "dev.knative.apiserver.ref.update",
        ["apiversion"] = "apps/v1",
        ["kind"] = "Deployment",
        ["namespace"] = Ns,
        ["name"] = $"web-{i}",
        ["data"] = new JsonObject { ["kind"] = "Deployment", ["namespace"] = Ns, ["name"] = $"web-{i}", ["apiVersion"] = "apps/v1" },
    }).ToArray()).ToJsonString();

    [Fact]
    public async Task Batch_over_the_event_limit_is_413_before_any_api_call()
    {
        using var host = Start(("MaxBatchEvents", "10"));

        var problem = await ProblemAsync(await host.SendStructuredAsync(Batch(11), "application/cloudevents-batch+json"), HttpStatusCode.RequestEntityTooLarge);

        Assert.Contains("11 events", (string?)problem["detail"]);
        Assert.Empty(host.Calls);
    }

    [Fact]
    public async Task Batch_at_the_event_limit_is_handled()
    {
        using var host = Start(("MaxBatchEvents", "3"));
        for (var i = 0; i < 3; i++)
        {
            host.StubGetWorkloadStatus("apps/v1", "deployments", Ns, $"web-{i}", 404);
        }

        using var response = await host.SendStructuredAsync(Batch(3), "application/cloudevents-batch+json");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(3, host.Calls.Count);
    }

    [Fact]
    public async Task Batch_with_one_transient_outcome_answers_503_so_the_whole_batch_is_redelivered()
    {
        using var host = Start();
        host.StubGetWorkloadStatus("apps/v1", "deployments", Ns, "web-0", 404);
        host.StubGetWorkloadStatus("apps/v1", "deployments", Ns, "web-1", 503);

        using var response = await host.SendStructuredAsync(Batch(2), "application/cloudevents-batch+json");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.NotNull(response.Headers.RetryAfter);
    }

    [Fact]
    public async Task Resync_within_the_minimum_interval_answers_the_last_summary_marked_reused_without_listing_again()
    {
        using var host = Start(("Resources", "Deployment.v1.apps"), ("ResyncMinInterval", "01:00:00"));
        host.Stub("GET", ImagesCollection, 200, ImageList(null, []));
        host.Stub("GET", Deployments, 200, ResyncContractTests.WorkloadList(null));

        using var first = await host.PostAsync("/resync", "", null);
        var lists = host.Calls.Count;
        using var second = await host.PostAsync("/resync", "", null);

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal(2, lists);
        Assert.Equal(lists, host.Calls.Count);
        Assert.NotEqual(true, (bool?)JsonNode.Parse(await first.Content.ReadAsStringAsync())!["reused"]);
        Assert.True((bool?)JsonNode.Parse(await second.Content.ReadAsStringAsync())!["reused"]);
    }

    [Fact]
    public async Task Resync_that_failed_is_not_reused_so_its_redelivery_runs_again()
    {
        using var host = Start(("Resources", "Deployment.v1.apps"), ("ResyncMinInterval", "01:00:00"), ("ApiRetries", "0"));
        host.Stub("GET", ImagesCollection, 503, Status(503));

        using var first = await host.PostAsync("/resync", "", null);
        using var second = await host.PostAsync("/resync", "", null);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, first.StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, second.StatusCode);
        Assert.Equal(2, host.Calls.Count);
    }

    [Fact]
    public async Task Request_over_the_body_memory_budget_is_503_with_retry_after_and_no_api_call()
    {
        using var host = Start(("MaxRequestBodyBytes", "1000"), ("BodyMemoryBudgetBytes", "2000"));
        var budget = host.Services.GetRequiredService<BodyBudget>();
        // Other requests hold nearly all of the budget: 1950 of 2000 bytes.
        using var others = budget.Open();
        others.Take(1950);

        using var response = await host.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web");

        await ProblemAsync(response, HttpStatusCode.ServiceUnavailable);
        Assert.NotNull(response.Headers.RetryAfter);
        Assert.Empty(host.Calls);
    }

    [Fact]
    public async Task Body_memory_is_given_back_when_a_request_has_been_answered()
    {
        using var host = Start(("MaxRequestBodyBytes", "1000"), ("BodyMemoryBudgetBytes", "2000"));
        host.StubGetWorkloadStatus("apps/v1", "deployments", Ns, "web", 404);

        for (var i = 0; i < 5; i++)
        {
            using var response = await host.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal(0, host.Services.GetRequiredService<BodyBudget>().Used);
    }

    [Fact]
    public async Task Out_of_memory_while_handling_an_event_answers_503_not_500()
    {
        using var host = Start(null, web => web.ConfigureTestServices(s => s.AddSingleton<IClusterApi>(new OutOfMemoryApi())));

        using var response = await host.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web");

        await ProblemAsync(response, HttpStatusCode.ServiceUnavailable);
        Assert.NotNull(response.Headers.RetryAfter);
    }

    /// <summary>An API port whose every call finds the process out of memory.</summary>
    private sealed class OutOfMemoryApi : IClusterApi
    {
        public Task<Workload?> GetWorkloadAsync(ResourceKind kind, string ns, string name, CancellationToken ct) => throw new OutOfMemoryException();

        public Task<IReadOnlyList<ImageState>> ListImagesAsync(string ns, string controllerUid, CancellationToken ct) => throw new OutOfMemoryException();

        public Task<ImageState?> GetImageAsync(string ns, string name, CancellationToken ct) => throw new OutOfMemoryException();

        public Task<WriteResult> CreateImageAsync(ImagePlan plan, DesiredImage image, CancellationToken ct) => throw new OutOfMemoryException();

        public Task<WriteResult> UpdateImageAsync(ImagePlan plan, ImageState current, DesiredImage? desired, CancellationToken ct) => throw new OutOfMemoryException();

        public Task<WriteResult> DeleteImageAsync(ImageState image, CancellationToken ct) => throw new OutOfMemoryException();

        public IAsyncEnumerable<IReadOnlyList<Workload>> ListWorkloadsAsync(ResourceKind kind, CancellationToken ct) => throw new OutOfMemoryException();

        public IAsyncEnumerable<IReadOnlyList<ImageState>> ListAllImagesAsync(CancellationToken ct) => throw new OutOfMemoryException();
    }
}
