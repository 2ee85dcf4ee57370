using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace Cachier.Bench.Support;

/// <summary>
/// The one way the bench starts a server process (the function, AOT or <c>dotnet cachier.dll</c>, or the echo baseline):
/// a clean environment, its output to a log file, ready when <c>/health/readiness</c> answers, stopped with SIGTERM by its
/// own pid, as Knative stops it.
/// </summary>
public sealed partial class FunctionProcess : IAsyncDisposable
{
    private const int SigTerm = 15;
    private readonly Process _process;
    private readonly StreamWriter _log;
    private readonly string _logPath;
    private readonly Lock _logGate = new();

    private FunctionProcess(Process process, StreamWriter log, string logPath, int port)
    {
        _process = process;
        _log = log;
        _logPath = logPath;
        Port = port;
        Url = new Uri($"http://127.0.0.1:{port}/");
    }

    public int Port { get; }

    public Uri Url { get; }

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>Starts <paramref name="fileName"/> now; the caller takes the time just before this call.</summary>
    /// <param name="environment">The process's settings; <c>PORT</c> among them, set to <paramref name="port"/>.</param>
    /// <param name="workingDirectory">Where it runs (its content root); default the directory of <paramref name="fileName"/>.</param>
    public static FunctionProcess Start(string fileName, IEnumerable<string> args, IReadOnlyDictionary<string, string> environment, int port, string logPath,
        string? workingDirectory = null)
    {
        var info = new ProcessStartInfo(fileName)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingDirectory ?? Path.GetDirectoryName(Path.GetFullPath(fileName))!,
        };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        // What `dotnet run`, the SDK or the shell may have left in our environment must not reach the function; nor may
        // an in-cluster address: it runs outside the cluster, whatever the shell says.
        foreach (var key in info.Environment.Keys.Where(k => k.StartsWith("DOTNET_", StringComparison.Ordinal) || k.StartsWith("ASPNETCORE_", StringComparison.Ordinal)
            || k.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase) || k == "KUBERNETES_SERVICE_HOST").ToList())
        {
            info.Environment.Remove(key);
        }

        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }

        var log = new StreamWriter(logPath, append: true) { AutoFlush = false };
        var process = new Process { StartInfo = info };
        var function = new FunctionProcess(process, log, logPath, port);
        process.OutputDataReceived += (_, e) => function.Write(e.Data);
        process.ErrorDataReceived += (_, e) => function.Write(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return function;
    }

    /// <summary>Polls readiness until it answers 200 (bounded).</summary>
    public async Task WaitReadyAsync(HttpClient client, TimeSpan timeout)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < deadline)
        {
            if (HasExited)
            {
                throw new InvalidOperationException($"{_process.StartInfo.FileName} exited with {_process.ExitCode} before it was ready; see {_logPath}");
            }

            try
            {
                using var response = await client.GetAsync(new Uri(Url, "health/readiness"));
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            await Task.Delay(10);
        }

        throw new TimeoutException($"{_process.StartInfo.FileName} not ready within {timeout}; see {_logPath}");
    }

    /// <summary>VmRSS, VmHWM, RssAnon and RssFile from /proc/PID/status, in KiB.</summary>
    public Memory ReadMemory() => Memory.Read(Pid);

    /// <summary>User + system CPU time of the process so far.</summary>
    public TimeSpan CpuTime => Proc.CpuTime(Pid);

    /// <summary>SIGTERM, as Knative scales down; the exit code once it has exited (within <paramref name="bound"/>).</summary>
    public async Task<int> TerminateAsync(TimeSpan bound)
    {
        if (!_process.HasExited)
        {
            _ = Kill(_process.Id, SigTerm);
            await _process.WaitForExitAsync().WaitAsync(bound);
        }

        return _process.ExitCode;
    }

    /// <summary>SIGTERM; SIGKILL when it has not exited within 10 seconds.</summary>
    public async Task StopAsync()
    {
        try
        {
            await TerminateAsync(TimeSpan.FromSeconds(10));
        }
        catch (TimeoutException)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        lock (_logGate)
        {
            _log.Flush();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _process.Dispose();
        lock (_logGate)
        {
            _log.Dispose();
        }
    }

    private void Write(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_logGate)
        {
            _log.WriteLine(line);
        }
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}

/// <summary>Memory of a process, from /proc/PID/status (KiB).</summary>
public sealed record Memory(long VmRssKiB, long VmHwmKiB, long RssAnonKiB, long RssFileKiB)
{
    public double VmRssMiB => VmRssKiB / 1024.0;

    public static Memory Read(int pid)
    {
        var fields = File.ReadAllLines($"/proc/{pid}/status")
            .Select(l => l.Split(':', 2))
            .Where(p => p.Length == 2)
            .ToDictionary(p => p[0], p => p[1].Trim());
        long Kib(string name) => fields.TryGetValue(name, out var v) ? long.Parse(v.Split(' ')[0], CultureInfo.InvariantCulture) : 0;
        return new Memory(Kib("VmRSS"), Kib("VmHWM"), Kib("RssAnon"), Kib("RssFile"));
    }
}

public static class Proc
{
    private static readonly long TicksPerSecond = 100; // USER_HZ on Linux

    /// <summary>utime + stime of /proc/PID/stat.</summary>
    public static TimeSpan CpuTime(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        return TimeSpan.FromSeconds((double)ticks / TicksPerSecond);
    }

    public static int? ReadPidFile(string? path) =>
        path is not null && File.Exists(path) && int.TryParse(File.ReadAllText(path).Trim(), out var pid) && Directory.Exists($"/proc/{pid}") ? pid : null;
}
