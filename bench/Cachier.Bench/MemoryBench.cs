namespace Cachier.Bench;

/// <summary>
/// Memory of the AOT function: RSS idle after start, after backfilling ~200 workloads, after 10,000 status-only
/// update events over them, and after 10,000 more (growth between the last two = what the load leaves behind).
/// </summary>
public static class MemoryBench
{
    public static async Task RunAsync(BenchEnv env, int workloads, int events, int concurrency, IReadOnlyList<string> modes)
    {
        var ns = env.Namespace("mem");
        using var cluster = new Cluster(env);
        await cluster.EnsureNamespaceAsync(ns);
        const int imagesPerWorkload = 2;
        var names = Enumerable.Range(0, workloads).Select(i => $"mem-{i}").ToArray();
        await cluster.CreateDeploymentsAsync(ns, names.Select(n => (n, (IReadOnlyList<string>)[.. Enumerable.Range(0, imagesPerWorkload).Select(c => Cluster.Image(n, c))])));

        var variants = new List<MemoryVariant>();
        foreach (var mode in modes)
        {
            var environment = env.FunctionEnvironment(0);
            (string Label, Dictionary<string, string> Settings) variant = mode switch
            {
                "default" => ("as shipped (Workstation GC, 4 MiB gen0 budget)", []),
                "server" => ("DOTNET_gcServer=1, DOTNET_GCgen0size=0 (Server GC, the Web SDK's default)", BenchEnv.ServerGc),
                "gen0-default" => ("DOTNET_GCgen0size=0 (Workstation GC, the runtime's gen0 budget)", new() { ["DOTNET_GCgen0size"] = "0" }),
                "conserve" => ("DOTNET_GCConserveMemory=5", new() { ["DOTNET_GCConserveMemory"] = "5" }),
                "machine-ca-bundle" => ("machine CA bundle (SSL_CERT_FILE/SSL_CERT_DIR: Debian's defaults)", BenchEnv.MachineCaBundle),
                _ when mode.StartsWith("env:", StringComparison.Ordinal) => (mode, mode[4..].Split(';').Select(kv => kv.Split('=', 2)).ToDictionary(kv => kv[0], kv => kv[1])),
                _ => throw new ArgumentException($"unknown memory variant {mode}"),
            };
            foreach (var (key, value) in variant.Settings)
            {
                environment[key] = value;
            }

            variants.Add(await MeasureAsync(env, ns, names, events, concurrency, mode, variant.Label, environment));
        }

        var echo = await EchoIdleAsync(env);
        ResultFiles.Write(env, "memory", new MemoryResult(workloads, imagesPerWorkload, events, concurrency, variants, echo));
        await cluster.DeleteNamespaceAsync(ns);
    }

    private static async Task<MemoryVariant> MeasureAsync(BenchEnv env, string ns, string[] names, int events, int concurrency,
        string mode, string label, Dictionary<string, string> environment)
    {
        var port = Ports.Free();
        environment["PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        using var local = Http.LocalClient();
        using var cluster = new Cluster(env);
        await using var function = FunctionProcess.Start(env.AotBinary, [], environment, port, Path.Combine(env.LogsDir, $"memory-{mode}.log"));
        await function.WaitReadyAsync(local, TimeSpan.FromSeconds(30));
        var samples = new List<MemorySample>();

        void Sample(string stage, Block? block = null)
        {
            var m = function.ReadMemory();
            samples.Add(new MemorySample(stage, Round(m.VmRssKiB), Round(m.VmHwmKiB), Round(m.RssAnonKiB), Round(m.RssFileKiB),
                block?.Requests ?? 0, block?.Errors ?? 0, Math.Round(block?.Seconds ?? 0, 2)));
            Console.Error.WriteLine($"memory [{mode}]: {stage}: VmRSS {Round(m.VmRssKiB)} MiB{(block is { Errors: > 0 } b ? $" ({b.Errors} errors: {b.FirstError})" : "")}");
        }

        // Idle: ready, then a quiet moment (the host's start-up allocations settle).
        await Task.Delay(TimeSpan.FromSeconds(2));
        Sample("idle after start");

        // Reference mode: every event GETs; only the first per workload LISTs and creates.
        var (backfill, _) = await cluster.RunCleanAsync(() => Load.RunAsync(names.Length, concurrency,
            i => Steady.SendAsync(local, Events.RefDeployment(function.Url, "add", ns, names[i]), expectReconciled: true)), "memory backfill");
        Sample($"after {names.Length} add events (creates {names.Length * 2} Images)", backfill);

        var (first, _) = await cluster.RunCleanAsync(() => Load.RunAsync(events, concurrency,
            i => Steady.SendAsync(local, Events.RefDeployment(function.Url, "update", ns, names[i % names.Length]), expectReconciled: true)), "memory phase 1");
        Sample($"after {events:N0} status-only updates", first);

        var (second, _) = await cluster.RunCleanAsync(() => Load.RunAsync(events, concurrency,
            i => Steady.SendAsync(local, Events.RefDeployment(function.Url, "update", ns, names[i % names.Length]), expectReconciled: true)), "memory phase 2");
        Sample($"after {2 * events:N0} status-only updates", second);

        await Task.Delay(TimeSpan.FromSeconds(3));
        Sample("idle 3 s later");
        return new MemoryVariant(mode, label, samples);
    }

    /// <summary>The bare AOT echo, idle 2 s after its first answer: the floor of an AOT ASP.NET Core process.</summary>
    private static async Task<MemorySample> EchoIdleAsync(BenchEnv env)
    {
        var port = Ports.Free();
        using var local = Http.LocalClient();
        await using var echo = FunctionProcess.Start(env.EchoBinary, [], BenchEnv.EchoEnvironment(port),
            port, Path.Combine(env.LogsDir, "memory-echo.log"));
        for (var attempt = 0; attempt < 3000; attempt++)
        {
            try
            {
                using var response = await local.SendAsync(Events.RefDeployment(echo.Url, "update", "default", "echo"));
                if (response.IsSuccessStatusCode)
                {
                    break;
                }
            }
            catch (HttpRequestException)
            {
                await Task.Delay(10);
            }
        }

        await Task.Delay(TimeSpan.FromSeconds(2));
        var m = echo.ReadMemory();
        Console.Error.WriteLine($"memory [echo]: idle: VmRSS {Round(m.VmRssKiB)} MiB");
        return new MemorySample("bare AOT echo, idle after its first answer", Round(m.VmRssKiB), Round(m.VmHwmKiB), Round(m.RssAnonKiB), Round(m.RssFileKiB), 1, 0, 0);
    }

    private static double Round(long kib) => Math.Round(kib / 1024.0, 1);
}
