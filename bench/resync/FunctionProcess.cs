using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;

namespace Cachier.Bench.Resync;

/// <summary>The real function binary (<c>dotnet cachier.dll</c>) on a free local port; its log goes to a file.</summary>
public sealed class FunctionProcess : IDisposable
{
    private readonly Process _process;
    private readonly StreamWriter _log;

    private FunctionProcess(Process process, StreamWriter log, int port)
    {
        _process = process;
        _log = log;
        Client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromMinutes(30) };
    }

    public HttpClient Client { get; }

    public static async Task<FunctionProcess> StartAsync(string dll, IReadOnlyDictionary<string, string> settings, string logPath)
    {
        var port = Ports.Free();
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = Path.GetDirectoryName(dll)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.ArgumentList.Add(dll);
        // Not in a cluster, whatever the shell says; the port and every setting from here.
        start.Environment.Remove("KUBERNETES_SERVICE_HOST");
        start.Environment.Remove("ASPNETCORE_URLS");
        start.Environment["PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        foreach (var (key, value) in settings)
        {
            start.Environment[key] = value;
        }

        var log = new StreamWriter(logPath) { AutoFlush = true };
        var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => Write(log, e.Data);
        process.ErrorDataReceived += (_, e) => Write(log, e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var function = new FunctionProcess(process, log, port);
        await function.WaitReadyAsync(logPath);
        return function;
    }

    /// <summary>POST /resync; the summary and the time the request took.</summary>
    public async Task<(JsonObject Summary, TimeSpan Wall)> ResyncAsync()
    {
        var clock = Stopwatch.StartNew();
        using var response = await Client.PostAsync("/resync", null);
        var body = await response.Content.ReadAsStringAsync();
        clock.Stop();
        return response.StatusCode == HttpStatusCode.OK
            ? (JsonNode.Parse(body)!.AsObject(), clock.Elapsed)
            : throw new InvalidOperationException($"POST /resync answered {(int)response.StatusCode}: {body}");
    }

    public void Dispose()
    {
        Client.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }

        _process.Dispose();
        lock (_log)
        {
            _log.Dispose();
        }
    }

    private async Task WaitReadyAsync(string logPath)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(60))
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"the function exited with {_process.ExitCode}; see {logPath}");
            }

            try
            {
                using var response = await Client.GetAsync("/health/readiness");
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"the function was not ready within 60 s; see {logPath}");
    }

    private static void Write(StreamWriter log, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (log)
        {
            if (log.BaseStream?.CanWrite == true)
            {
                log.WriteLine(line);
            }
        }
    }
}
