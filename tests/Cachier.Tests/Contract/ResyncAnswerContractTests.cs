using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using Cachier.Reconcile;
using Microsoft.Extensions.DependencyInjection;
using static Cachier.Tests.Support.AppHost;
using static Cachier.Tests.Support.CloudEvents;
using static Cachier.Tests.Support.Objects;

namespace Cachier.Tests.Contract;

/// <summary>
/// A resync longer than Knative's request timeout (knative/service.yaml timeoutSeconds) is not cut off: past
/// <c>ResyncAnswerWithin</c> (below that timeout) its request is answered 202 <c>running</c> and the run goes on.
/// </summary>
public sealed class ResyncAnswerContractTests
{
    private static readonly TimeSpan SlowList = TimeSpan.FromSeconds(4);

    [Fact]
    public async Task Resync_still_running_at_the_answer_bound_is_answered_202_running_and_goes_on_to_complete()
    {
        using var host = Start(("Resources", "Deployment.v1.apps"), ("ResyncAnswerWithin", "00:00:00.3"));
        host.Stub("GET", "/apis/caching.internal.knative.dev/v1alpha1/images", 200, ImageList(null, []), delay: SlowList);
        host.Stub("GET", "/apis/apps/v1/deployments", 200, ResyncContractTests.WorkloadList(null));
        var started = Stopwatch.GetTimestamp();

        var response = await host.Client.PostAsync("/resync", null);
        var answeredAfter = Stopwatch.GetElapsedTime(started);

        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, text);
        Assert.Equal("running", (string?)JsonNode.Parse(text)!["result"]);
        Assert.True(answeredAfter < SlowList, $"answered after {answeredAfter}");
        // The same run, joined, completes: the answer did not stop it.
        var run = await host.Services.GetRequiredService<Resyncer>().RunAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal((ResyncResult.Completed, true), (run.Result, run.Joined));
        Assert.Single(host.Lines, l => l.StartsWith("GET /apis/caching.internal.knative.dev/v1alpha1/images", StringComparison.Ordinal));
    }

    [Fact]
    public void Resync_answer_bound_is_below_the_knative_request_timeout()
    {
        var service = File.ReadAllText(Repository.ServiceYaml);
        var timeout = TimeSpan.FromSeconds(int.Parse(System.Text.RegularExpressions.Regex.Match(service, @"\n\s+timeoutSeconds: (\d+)").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));

        Assert.True(new CachierOptions().ResyncAnswerWithin < timeout, $"ResyncAnswerWithin {new CachierOptions().ResyncAnswerWithin} is not below timeoutSeconds {timeout}");
    }
}
