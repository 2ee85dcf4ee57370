using System.Net;
using Xunit.Abstractions;

namespace Cachier.Tests.Reliability;

/// <summary>
/// Issue 8, shutdown: SIGTERM (Knative scale-down) during a burst lets every in-flight reconcile finish with its normal
/// answer, refuses new work (503 with Retry-After, or no connection once the listener is closed), and exits 0 in time.
/// </summary>
public sealed class ShutdownTests(ITestOutputHelper output)
{
    private const int InFlight = 12;
    private const int Late = 6;

    [Fact]
    public async Task Sigterm_during_a_burst_finishes_in_flight_reconciles_refuses_new_work_and_exits_zero()
    {
        using var api = new FakeApi();
        for (var i = 0; i < InFlight; i++)
        {
            api.PutDeployment(Objects.Deployment($"burst-{i}", $"00000000-0000-4000-8000-{i:D12}", 1, [$"img-{i}:1"]));
        }

        for (var i = 0; i < Late; i++)
        {
            api.PutDeployment(Objects.Deployment($"late-{i}", $"00000000-0000-4000-9000-{i:D12}", 1, [$"late-{i}:1"]));
        }

        // A slow API server: every workload GET takes a second, so the burst is still in flight when SIGTERM arrives.
        api.Latency = r => r.Path.Contains("/deployments/", StringComparison.Ordinal) ? TimeSpan.FromSeconds(1) : null;
        var arrived = 0;
        var allArrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        api.Arrived += r =>
        {
            if (r.Path.Contains("/deployments/burst-", StringComparison.Ordinal) && Interlocked.Increment(ref arrived) == InFlight)
            {
                allArrived.TrySetResult();
            }
        };

        await using var function = await FunctionProcess.StartAsync(new Dictionary<string, string>
        {
            ["Cachier__ApiServerUrl"] = api.Url,
            ["Cachier__ApiTimeout"] = "00:00:10",
        });

        var burst = Enumerable.Range(0, InFlight)
            .Select(i => function.Client.SendAsync(CloudEvents.Ref("add", "apps/v1", "Deployment", Objects.Ns, $"burst-{i}")))
            .ToList();
        await allArrived.Task.WaitAsync(TimeSpan.FromSeconds(20));

        var stopping = function.WaitFor("Application is shutting down");
        await function.TerminateAsync();
        await stopping.WaitAsync(TimeSpan.FromSeconds(10));

        // New work after SIGTERM: refused, never reconciled.
        int answered503 = 0, refused = 0;
        for (var i = 0; i < Late; i++)
        {
            try
            {
                using var late = await function.Client.SendAsync(CloudEvents.Ref("add", "apps/v1", "Deployment", Objects.Ns, $"late-{i}"));
                Assert.Equal(HttpStatusCode.ServiceUnavailable, late.StatusCode);
                Assert.True(CloudEvents.RetryAfterSeconds(late) >= 1);
                answered503++;
            }
            catch (HttpRequestException)
            {
                // The listener is closed: connection refused. The sender redelivers to another instance.
                refused++;
            }
        }

        output.WriteLine($"after SIGTERM: {answered503} answered 503, {refused} refused");

        // Every request that was in flight gets its normal answer over its own connection.
        foreach (var (request, i) in burst.Select((r, i) => (r, i)))
        {
            using var response = await request.WaitAsync(TimeSpan.FromSeconds(20));
            var outcome = await CloudEvents.OutcomeAsync(response, HttpStatusCode.OK);
            Assert.Equal(("reconciled", 1, $"burst-{i}"), ((string?)outcome["result"], (int?)outcome["created"], (string?)outcome["name"]));
        }

        Assert.Equal(0, await function.ExitCodeAsync(TimeSpan.FromSeconds(20)));
        // The log is written in batches off the request path: each in-flight event's line still reached stdout before the exit.
        Assert.All(Enumerable.Range(0, InFlight), i => Assert.Contains($"Deployment {Objects.Ns}/burst-{i}: reconciled (created 1,", function.Output, StringComparison.Ordinal));
        Assert.DoesNotContain(api.Requests, r => r.Path.Contains("/deployments/late-", StringComparison.Ordinal));
        // Image creates only: the Kubernetes Events about them are POSTs too, written off the reconcile.
        Assert.Equal(InFlight, api.ImageWrites("POST").Count);
    }
}
