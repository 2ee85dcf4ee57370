using System.Diagnostics;
using System.Globalization;
using System.Text;
using Xunit.Abstractions;

namespace Cachier.Tests.Support;

/// <summary>
/// The function as its own process, the way Knative runs it: $PORT, environment configuration, SIGTERM. The tests' one
/// way to start it (the JIT build or the published Native AOT binary); its output is read line by line, so a test waits
/// for a log line rather than for a time. (bench/Support/FunctionProcess.cs is the bench's: a log file and readiness polling.)
/// </summary>
public sealed class FunctionProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly List<(string Text, TaskCompletionSource Seen)> _waits = [];
    private readonly ITestOutputHelper? _stderr;

    private FunctionProcess(Process process, int port, TimeSpan clientTimeout, ITestOutputHelper? stderr)
    {
        _process = process;
        _stderr = stderr;
        Port = port;
        Client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = clientTimeout };
    }

    public int Port { get; }

    public HttpClient Client { get; }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>Everything it has written so far, stdout and stderr.</summary>
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

    /// <summary><c>dotnet cachier.dll</c> of the test's build (<see cref="FunctionDll"/>).</summary>
    public static Task<FunctionProcess> StartAsync(IReadOnlyDictionary<string, string> environment) =>
        StartAsync("dotnet", [FunctionDll()], environment);

    /// <summary>
    /// Starts <paramref name="fileName"/> on a free port and waits for its "Now listening" line (60 s at most). It runs with
    /// simple log lines and no sender authentication unless <paramref name="environment"/> says otherwise; nothing of the
    /// test run's own address settings or cluster reaches it. <paramref name="stderr"/>, if given, gets each stderr line as it comes.
    /// </summary>
    public static async Task<FunctionProcess> StartAsync(string fileName, IEnumerable<string> arguments, IReadOnlyDictionary<string, string> environment,
        TimeSpan? clientTimeout = null, ITestOutputHelper? stderr = null)
    {
        var port = Ports.Free();
        var start = new ProcessStartInfo(fileName, arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var name in new[] { "ASPNETCORE_URLS", "ASPNETCORE_HTTP_PORTS", "KUBERNETES_SERVICE_HOST", "KUBECONFIG" })
        {
            start.Environment.Remove(name);
        }

        start.Environment["PORT"] = port.ToString(CultureInfo.InvariantCulture);
        start.Environment["Cachier__LogFormat"] = "simple";
        // Who may send is the subject of the sender authentication tests, not of these.
        start.Environment["Cachier__Authentication__Mode"] = "None";
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var function = new FunctionProcess(process, port, clientTimeout ?? TimeSpan.FromSeconds(30), stderr);
        process.OutputDataReceived += (_, e) => function.Append(e.Data, error: false);
        process.ErrorDataReceived += (_, e) => function.Append(e.Data, error: true);
        var listening = function.WaitFor("Now listening on");
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        await Task.WhenAny(listening.WaitAsync(TimeSpan.FromSeconds(60)), process.WaitForExitAsync());
        if (!listening.IsCompletedSuccessfully)
        {
            await function.DisposeAsync();
            Assert.Fail($"{fileName} did not start listening{(process.HasExited ? $" (exited with {process.ExitCode})" : "")}:\n{function.Output}");
        }

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
        using var kill = Process.Start("kill", ["-TERM", Id.ToString(CultureInfo.InvariantCulture)])!;
        await kill.WaitForExitAsync();
        Assert.Equal(0, kill.ExitCode);
    }

    /// <summary>The exit code, once the process has exited within <paramref name="within"/>.</summary>
    public async Task<int> ExitCodeAsync(TimeSpan within)
    {
        await _process.WaitForExitAsync().WaitAsync(within);
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _process.WaitForExitAsync();
        _process.Dispose();
    }

    private void Append(string? line, bool error)
    {
        if (line is null)
        {
            return;
        }

        if (error && _stderr is not null)
        {
            try
            {
                _stderr.WriteLine($"stderr: {line}");
            }
            catch (InvalidOperationException)
            {
                // The test has ended (the function is being stopped): its output is closed; Output still has the line.
            }
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
}
