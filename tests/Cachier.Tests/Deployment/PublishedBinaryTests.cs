using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace Cachier.Tests.DeploymentChecks;

/// <summary>
/// The Native AOT binary that the Dockerfile ships (scripts/publish.sh, run by scripts/test.sh before the tests)
/// serves the Dapr subscription and /metrics: the paths whose JSON needs source generation under AOT.
/// </summary>
public sealed class PublishedBinaryTests : IDisposable
{
    private static readonly string Binary = Path.Combine(Repository.Root, "artifacts", "publish", "cachier");
    private readonly WireMockServer _api = WireMockServer.Start();
    private Process? _process;

    [Fact]
    public async Task Published_binary_serves_dapr_subscription_deliveries_and_metrics()
    {
        Assert.True(File.Exists(Binary), $"{Binary} is missing: run scripts/publish.sh (scripts/test.sh does) first");
        var deployment = JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "testassets", "samples", "01-resource-add.data.json")))!;
        _api.Given(Request.Create().WithPath("/apis/apps/v1/namespaces/demo/deployments/dummy").UsingGet())
            .RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json").WithBody(deployment.ToJsonString()));
        _api.Given(Request.Create().WithPath(ApiPaths.ImagesPath("demo")).UsingGet())
            .RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json").WithBody("""{"kind":"ImageList","metadata":{},"items":[]}"""));
        _api.Given(Request.Create().WithPath(ApiPaths.ImagesPath("demo")).UsingPost())
            .RespondWith(Response.Create().WithStatusCode(201).WithHeader("Content-Type", "application/json").WithBody("{}"));
        using var client = await StartAsync();

        var subscriptions = JsonNode.Parse(await client.GetStringAsync("/dapr/subscribe"))!.AsArray();
        var delivery = await client.PostAsync("/dapr/events", new StringContent(
            File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "testassets", "samples", "03-ref-update.structured.json")),
            Encoding.UTF8, "application/cloudevents+json"));
        var metrics = await client.GetStringAsync("/metrics");

        var subscription = Assert.Single(subscriptions)!;
        Assert.Equal(("pubsub", "k8s-events", "/dapr/events"), ((string)subscription["pubsubname"]!, (string)subscription["topic"]!, (string)subscription["route"]!));
        Assert.Equal(HttpStatusCode.OK, delivery.StatusCode);
        Assert.Equal("SUCCESS", (string)JsonNode.Parse(await delivery.Content.ReadAsStringAsync())!["status"]!);
        Assert.Single(ApiPaths.ImageWrites(_api, "POST")); // the Event POSTs aside
        Assert.Contains("cachier_events_handled_total{otel_scope_name=\"Cachier\",outcome=\"reconciled\",type=\"dev.knative.apiserver.ref.update\"} 1", metrics);
        Assert.Contains("cachier_images_written_total{otel_scope_name=\"Cachier\",operation=\"created\"} 1", metrics);
    }

    public void Dispose()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill();
            _process.WaitForExit(10_000);
        }

        _process?.Dispose();
        _api.Dispose();
    }

    /// <summary>Starts the binary and waits for its "Now listening" log line (a signal, bounded by a timeout).</summary>
    private async Task<HttpClient> StartAsync()
    {
        var port = Ports.Free();
        var start = new ProcessStartInfo(Binary) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment["PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        start.Environment["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}";
        start.Environment["Cachier__ApiServerUrl"] = _api.Url;
        start.Environment["Cachier__DaprPubSubName"] = "pubsub";
        start.Environment["Cachier__DaprTopic"] = "k8s-events";
        // What this test proves is the AOT binary's Dapr route and metrics; who may send is the subject of other tests.
        start.Environment["Cachier__Authentication__Mode"] = "None";
        var listening = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _process = new Process { StartInfo = start };
        _process.OutputDataReceived += (_, line) =>
        {
            if (line.Data?.Contains("Now listening on", StringComparison.Ordinal) == true)
            {
                listening.TrySetResult();
            }
        };
        _process.Exited += (_, _) => listening.TrySetException(new InvalidOperationException($"cachier exited with {_process.ExitCode}"));
        _process.EnableRaisingEvents = true;
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        await listening.Task.WaitAsync(TimeSpan.FromSeconds(30));
        return new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) };
    }
}
