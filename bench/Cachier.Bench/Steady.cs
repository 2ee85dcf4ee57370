using System.Net;

namespace Cachier.Bench;

/// <summary>
/// Steady state: status-only update events (Reference mode) for Deployments whose Images are in place, so each
/// event costs Cachier one GET (the desired-state memo skips the LIST). Side by side, in the same run, a raw
/// client makes that same GET straight to the API server with the function's token. Blocks run A-B-B-A so slow
/// drifts of the shared machine fall on both sides alike.
/// </summary>
public static class Steady
{
    private const string RawUserAgent = "cachier-bench-raw/1.0";
    public const string LogOff = "per-event log line off (Logging__LogLevel__Cachier=Warning)";
    public const string NoCall = "an event that makes no API call (a Secret: kind not watched)";
    private const string NoSpin = "thread pool workers do not spin (DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0)";
    private const string DefaultSpin = "the runtime's default spinning (DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=70; shipped: 15)";
    public const string ServerGc = "Server GC (DOTNET_gcServer=1, DOTNET_GCgen0size=0)";
    public const string Forwarder = "a bare AOT forwarder, not Cachier: the same event and GET, nothing else (bench/Cachier.Bench.Forward)";

    public static async Task RunAsync(BenchEnv env, int requests, int warmup, int workloads)
    {
        var ns = env.Namespace("steady");
        using var cluster = new Cluster(env);
        await cluster.EnsureNamespaceAsync(ns);
        var names = Enumerable.Range(0, workloads).Select(i => $"steady-{i}").ToArray();
        const int imagesPerWorkload = 2;
        await cluster.CreateDeploymentsAsync(ns, names.Select(n => (n, (IReadOnlyList<string>)[.. Enumerable.Range(0, imagesPerWorkload).Select(c => Cluster.Image(n, c))])));

        using var local = Http.LocalClient();
        using var raw = Http.ApiClient(env, env.FunctionToken, RawUserAgent);
        var loadBefore = ResultFiles.LoadAverage();
        using var audit = new AuditLog(env.AuditLog);
        var rows = new List<SteadyRow>();
        SteadyRow? single = null;
        var functionEvents = 0;
        var audited = "";

        Func<int, Task<(bool, string?)>> Raw(Func<int, string> workload) => async i =>
        {
            using var response = await raw.GetAsync($"/apis/apps/v1/namespaces/{ns}/deployments/{workload(i)}");
            _ = await response.Content.ReadAsByteArrayAsync();
            return response.StatusCode == HttpStatusCode.OK ? (true, null) : (false, $"raw GET answered {(int)response.StatusCode}");
        };

        // As shipped, then the same binary with one setting changed (diagnostics: what the per-event cost is made of),
        // then the floor: a bare forwarder with Cachier's runtime settings that only receives the event and makes its GET.
        (string Label, Dictionary<string, string> Environment)[] variants =
        [
            ("as shipped", []),
            (LogOff, new() { ["Logging__LogLevel__Cachier"] = "Warning" }),
            (NoSpin, new() { ["DOTNET_ThreadPool_UnfairSemaphoreSpinLimit"] = "0" }),
            (DefaultSpin, new() { ["DOTNET_ThreadPool_UnfairSemaphoreSpinLimit"] = "70" }),
            (ServerGc, BenchEnv.ServerGc),
            (Forwarder, new() { ["FORWARD_API"] = env.Server, ["FORWARD_TOKEN"] = env.FunctionToken, ["FORWARD_CA"] = env.CaFile }),
        ];

        foreach (var (label, extra) in variants)
        {
            var shipped = label == "as shipped";
            var forwarder = label == Forwarder;
            var port = Ports.Free();
            var environment = env.FunctionEnvironment(port);
            foreach (var (key, value) in extra)
            {
                environment[key] = value;
            }

            await using var function = FunctionProcess.Start(forwarder ? env.ForwardBinary : env.AotBinary, [], environment, port,
                Path.Combine(env.LogsDir, $"steady-function-{(shipped ? "shipped" : rows.Count.ToString(System.Globalization.CultureInfo.InvariantCulture))}.log"));
            await function.WaitReadyAsync(local, TimeSpan.FromSeconds(30));

            // Images in place and the memo primed: an add per workload (creates, or finds them), then an update (memo hit).
            foreach (var name in names)
            {
                await SendAsync(local, Events.RefDeployment(function.Url, "add", ns, name), expectReconciled: true);
                var (ok, error) = await SendAsync(local, Events.RefDeployment(function.Url, "update", ns, name), expectReconciled: true);
                if (!ok)
                {
                    throw new InvalidOperationException($"priming {ns}/{name}: {error}");
                }
            }

            Func<int, Task<(bool, string?)>> Function(Func<int, string> workload) => async i =>
            {
                if (shipped)
                {
                    Interlocked.Increment(ref functionEvents);
                }

                return await SendAsync(local, Events.RefDeployment(function.Url, "update", ns, workload(i)), expectReconciled: true);
            };

            audit.Start();
            // Every variant at both concurrencies of the target, but Server GC at c=8 only.
            foreach (var concurrency in label == ServerGc ? new[] { 8 } : [1, 8])
            {
                // The forwarder has no metrics: its GET is not timed on its own.
                var gets = forwarder ? default : await GetTimingAsync(local, function.Url);
                var row = await MeasureAsync(shipped ? $"c={concurrency}" : $"c={concurrency}, {label}", concurrency, workloads, requests, warmup,
                    Raw(i => names[i % workloads]), Function(i => names[i % workloads]), function, env.ApiServerPidFile, cluster);
                var getsAfter = forwarder ? default : await GetTimingAsync(local, function.Url);
                row = row with
                {
                    Diagnostic = !shipped,
                    Variant = shipped ? null : label,
                    FunctionRssMiB = Math.Round(function.ReadMemory().VmRssMiB, 1),
                    FunctionGetMeanMs = getsAfter.Count > gets.Count ? Math.Round(1000 * (getsAfter.Seconds - gets.Seconds) / (getsAfter.Count - gets.Count), 3) : null,
                };
                rows.Add(row);
                Console.Error.WriteLine($"steady: {row.Name}: raw {row.Raw.EventsPerSecond}/s, function {row.Function.EventsPerSecond}/s ({row.Ratio:0.00}), function CPU {row.FunctionCpuUsPerEvent} us/event");
            }

            if (shipped)
            {
                // The per-workload lock: eight events for ONE Deployment at once are handled one after the other.
                single = await MeasureAsync("c=8, one workload", 8, 1, requests / 2, warmup / 2,
                    Raw(_ => names[0]), Function(_ => names[0]), function, env.ApiServerPidFile, cluster);
                Console.Error.WriteLine($"steady: c=8 one workload: raw {single.Raw.EventsPerSecond}/s, function {single.Function.EventsPerSecond}/s");

                // What an event costs without its GET: one of a kind Cachier does not watch is answered with no API call,
                // so its latency is the second hop and Cachier's work around every event (diagnostic, c=1).
                var hop = await MeasureAsync($"c=1, {NoCall}", 1, workloads, requests / 2, warmup / 2,
                    Raw(i => names[i % workloads]), i => SendAsync(local, Events.Ref(function.Url, "update", "v1", "Secret", ns, names[i % workloads]), expect: "ignored"),
                    function, env.ApiServerPidFile, cluster);
                rows.Add(hop with { Diagnostic = true, Variant = NoCall, FunctionRssMiB = Math.Round(function.ReadMemory().VmRssMiB, 1) });
                Console.Error.WriteLine($"steady: {hop.Name}: raw {hop.Raw.EventsPerSecond}/s, function {hop.Function.EventsPerSecond}/s, function CPU {hop.FunctionCpuUsPerEvent} us/event");
                var marker = await cluster.AuditMarkerAsync(ns);
                var entries = (await audit.CollectAsync(env.FunctionUser, marker, TimeSpan.FromSeconds(30)))
                    .Where(e => !e.UserAgent.StartsWith(RawUserAgent, StringComparison.Ordinal)).ToList();
                audited = AuditSummary.Verbs(entries);
            }

            await function.StopAsync();
        }

        ResultFiles.Write(env, "steady", new SteadyResult(env.AotBinary, workloads, imagesPerWorkload, warmup, requests, rows, single,
            functionEvents, audited, loadBefore, ResultFiles.LoadAverage()));
        await cluster.DeleteNamespaceAsync(ns);
    }

    private static async Task<SteadyRow> MeasureAsync(string name, int concurrency, int workloads, int requests, int warmup,
        Func<int, Task<(bool, string?)>> raw, Func<int, Task<(bool, string?)>> function, FunctionProcess process, string? apiServerPidFile, Cluster cluster)
    {
        await cluster.RunCleanAsync(() => Load.RunAsync(warmup, concurrency, raw), $"{name} raw warm-up");
        await cluster.RunCleanAsync(() => Load.RunAsync(warmup, concurrency, function), $"{name} function warm-up");

        // Small blocks in the order raw, function, function, raw, raw, function, ...: load from anything else on the
        // machine changes over seconds, so both sides see the same mix of it.
        var block = Math.Max(50, requests / 10);
        var rawBlocks = new List<Block>();
        var functionBlocks = new List<Block>();
        TimeSpan functionCpu = TimeSpan.Zero, apiRaw = TimeSpan.Zero, apiFunction = TimeSpan.Zero;
        var apiValid = apiServerPidFile is not null;
        for (var i = 0; i < 2 * (requests / block); i++)
        {
            var side = (i % 4) is 0 or 3 ? "raw" : "function";
            var cpu0 = TimeSpan.Zero;
            (int Pid, TimeSpan Cpu)? api0 = null;
            var (result, _) = await cluster.RunCleanAsync(() =>
            {
                cpu0 = process.CpuTime;
                api0 = ApiServerCpu(apiServerPidFile);
                return Load.RunAsync(block, concurrency, side == "raw" ? raw : function);
            }, $"{name} {side}");
            var api1 = ApiServerCpu(apiServerPidFile);
            var api = TimeSpan.Zero;
            if (api0 is { } a0 && api1 is { } a1 && a0.Pid == a1.Pid)
            {
                api = a1.Cpu - a0.Cpu;
            }
            else
            {
                apiValid = false; // restarted (or gone) meanwhile
            }

            if (side == "raw")
            {
                rawBlocks.Add(result);
                apiRaw += api;
            }
            else
            {
                functionBlocks.Add(result);
                functionCpu += process.CpuTime - cpu0;
                apiFunction += api;
            }
        }

        var rawSummary = LatencySummary.From(rawBlocks);
        var functionSummary = LatencySummary.From(functionBlocks);
        double PerEvent(TimeSpan cpu, LatencySummary s) => Math.Round(cpu.TotalMicroseconds / s.Requests, 1);
        return new SteadyRow(name, concurrency, workloads, rawSummary, functionSummary,
            Math.Round(functionSummary.EventsPerSecond / rawSummary.EventsPerSecond, 3),
            PerEvent(functionCpu, functionSummary),
            apiValid ? PerEvent(apiRaw, rawSummary) : null,
            apiValid ? PerEvent(apiFunction, functionSummary) : null);
    }

    /// <summary>
    /// The function's GETs so far, from its own metric <c>cachier.api.request.duration</c> (send to answer read, inside the
    /// function): how many, and their summed seconds.
    /// </summary>
    private static async Task<(double Count, double Seconds)> GetTimingAsync(HttpClient local, Uri function)
    {
        var gets = (await Http.MetricsAsync(local, function)).Where(m => m.Series.Contains("verb=\"GET\"", StringComparison.Ordinal)).ToList();
        double Sum(string series) => gets.Where(m => m.Series.StartsWith(series + "{", StringComparison.Ordinal)).Sum(m => m.Value);
        return (Sum("cachier_api_request_duration_seconds_count"), Sum("cachier_api_request_duration_seconds_sum"));
    }

    /// <summary>The API server's pid and CPU time; null when it is not running.</summary>
    private static (int Pid, TimeSpan Cpu)? ApiServerCpu(string? pidFile)
    {
        try
        {
            return Proc.ReadPidFile(pidFile) is { } pid ? (pid, Proc.CpuTime(pid)) : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>Sends one event; success = 200 and, when asked, a reconciled outcome.</summary>
    public static Task<(bool Ok, string? Error)> SendAsync(HttpClient client, HttpRequestMessage request, bool expectReconciled) =>
        SendAsync(client, request, expectReconciled ? "reconciled" : null);

    /// <summary>Sends one event; success = 200 and, when given, that outcome.</summary>
    private static async Task<(bool Ok, string? Error)> SendAsync(HttpClient client, HttpRequestMessage request, string? expect)
    {
        using (request)
        {
            using var response = await client.SendAsync(request);
            var body = await response.Content.ReadAsStringAsync();
            if (response.StatusCode != HttpStatusCode.OK)
            {
                return (false, $"{(int)response.StatusCode}: {body}");
            }

            return expect is null || body.Contains($"\"result\":\"{expect}\"", StringComparison.Ordinal) ? (true, null) : (false, body);
        }
    }
}
