using System.Diagnostics;
using System.Net;
using System.Text;
using Xunit.Abstractions;

namespace Cachier.Tests.Reliability;

/// <summary>The built function as its own process, the way Knative runs it: $PORT, environment configuration, SIGTERM.</summary>
public sealed class FunctionProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly List<(string Text, TaskCompletionSource Seen)> _waits = [];

    private FunctionProcess(Process process, int port)
    {
        _process = process;
        Port = port;
        Client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) };
    }

    public int Port { get; }

    public HttpClient Client { get; }

    public int Id => _process.Id;

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>The function's dll of the test's own build configuration (function/bin/&lt;cfg&gt;/net10.0), else the copy beside the tests.</summary>
    public static string FunctionDll()
    {
        var configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Parent!.Name;
        var built = Path.Combine(Repository.Root, "function", "bin", configuration, "net10.0", "cachier.dll");
        return File.Exists(built) ? built : Path.Combine(AppContext.BaseDirectory, "cachier.dll");
    }

    public static async Task<FunctionProcess> StartAsync(IReadOnlyDictionary<string, string> environment)
    {
        var port = Ports.Free();
        var start = new ProcessStartInfo("dotnet", [FunctionDll()])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var name in new[] { "ASPNETCORE_URLS", "ASPNETCORE_HTTP_PORTS", "KUBERNETES_SERVICE_HOST", "KUBECONFIG" })
        {
            start.Environment.Remove(name);
        }

        start.Environment["PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        start.Environment["Cachier__LogFormat"] = "simple";
        start.Environment["Cachier__Authentication__Mode"] = "None";
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var function = new FunctionProcess(process, port);
        process.OutputDataReceived += (_, e) => function.Append(e.Data);
        process.ErrorDataReceived += (_, e) => function.Append(e.Data);
        var listening = function.WaitFor("Now listening on");
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        await Task.WhenAny(listening.WaitAsync(TimeSpan.FromSeconds(60)), process.WaitForExitAsync());
        Assert.True(listening.IsCompletedSuccessfully, $"the function did not start listening:\n{function.Output}");
        return function;
    }

    /// <summary>Completes when the function has written a line containing <paramref name="text"/> (from now on).</summary>
    public Task WaitFor(string text)
    {
        var seen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_output)
        {
            _waits.Add((text, seen));
        }

        return seen.Task;
    }

    /// <summary>What Knative's scale-down sends.</summary>
    public async Task TerminateAsync()
    {
        using var kill = Process.Start("kill", ["-TERM", Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!;
        await kill.WaitForExitAsync();
        Assert.Equal(0, kill.ExitCode);
    }

    /// <summary>The exit code, once the process has exited within <paramref name="within"/>.</summary>
    public async Task<int> ExitCodeAsync(TimeSpan within)
    {
        await _process.WaitForExitAsync().WaitAsync(within);
        return _process.ExitCode;
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
            foreach (var wait in _waits.Where(w => line.Contains(w.Text, StringComparison.Ordinal)).ToList())
            {
                wait.Seen.TrySetResult();
                _waits.Remove(wait);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }
}

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
