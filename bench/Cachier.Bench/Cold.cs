using System.Diagnostics;
using System.Net;

namespace Cachier.Bench;

/// <summary>
/// Cold start: from process start to the 200 answer of the first event, sent in a loop until the port answers.
/// For Cachier (AOT and JIT) the event is a ref.add of a fresh Deployment, so it really creates Images; the bare
/// AOT echo gets the same event. Variants take turns within each run; one discarded warm-up run first.
/// </summary>
public static class Cold
{
    public const string ApiFloor = "API floor: new TLS connection + GET + LIST + POST (raw client, warm process)";

    public const string MachineCaBundle = "Cachier AOT, machine CA bundle (diagnostic: no SSL_CERT_FILE/SSL_CERT_DIR as in knative/service.yaml)";

    public const string OtherGc = "Cachier AOT, Server GC (diagnostic: DOTNET_gcServer=1, DOTNET_GCgen0size=0)";

    private sealed record Variant(string Name, string FileName, string[] Args, bool IsCachier, Dictionary<string, string>? Environment = null, string? Key = null);

    public static async Task RunAsync(BenchEnv env, int runs, string? only = null, IReadOnlyDictionary<string, string>? extraEnvironment = null)
    {
        var ns = env.Namespace("cold");
        using var cluster = new Cluster(env);
        await cluster.EnsureNamespaceAsync(ns);
        using var client = Http.LocalClient();
        Variant[] variants =
        [
            new("echo (bare AOT)", env.EchoBinary, [], false),
            new("Cachier AOT", env.AotBinary, [], true),
            new("Cachier JIT", "dotnet", [env.JitDll], true),

            // Diagnostics: the same AOT binary with one shipped setting undone, to show what each is worth.
            new(MachineCaBundle, env.AotBinary, [], true, BenchEnv.MachineCaBundle, "aot-machine-ca"),
            new(OtherGc, env.AotBinary, [], true, BenchEnv.ServerGc, "aot-server-gc"),
        ];

        if (only is not null)
        {
            variants = [.. variants.Where(v => v.Name.Contains(only, StringComparison.OrdinalIgnoreCase))];
        }

        // Every run's Deployment is made first, and the cluster's controllers are done with them (a ReplicaSet each), before
        // any process starts: made just before a run, the controller-manager and the API server worked on it on the same
        // cores while Cachier started (measured: about 26 ms more until the port answered), which the echo never paid.
        var workloads = Enumerable.Range(0, runs + 1).SelectMany(run =>
            variants.Where(v => v.IsCachier).Select(v => WorkloadOf(v, run)).Append(FloorWorkload(run))).ToList();
        await cluster.CreateDeploymentsAsync(ns, workloads.Select(w => (w, (IReadOnlyList<string>)[Cluster.Image(w, 0)])));
        foreach (var workload in workloads)
        {
            _ = await cluster.WaitForReplicaSetAsync(ns, workload, TimeSpan.FromSeconds(60))
                ?? throw new TimeoutException($"no ReplicaSet for Deployment {ns}/{workload} within 60 s");
        }

        var samples = new List<ColdRun>();
        for (var run = 0; run <= runs; run++)
        {
            // Rotate the order so that no variant always follows the same one.
            for (var k = 0; k < variants.Length; k++)
            {
                var variant = variants[(run + k) % variants.Length];
                var sample = await OnceAsync(env, cluster, client, ns, variant, run, extraEnvironment);
                Console.Error.WriteLine($"cold: run {run}{(run == 0 ? " (warm-up)" : "")} {variant.Name}: {sample.StartToFirst200Ms:0.0} ms ({sample.Outcome})");
                if (run > 0)
                {
                    samples.Add(sample);
                }
            }

            // The floor under any first reconciled event: the API calls themselves on a fresh TLS connection.
            var floor = await ApiFloorAsync(env, cluster, ns, run);
            Console.Error.WriteLine($"cold: run {run}{(run == 0 ? " (warm-up)" : "")} {floor.Variant}: {floor.StartToFirst200Ms:0.0} ms");
            if (run > 0)
            {
                samples.Add(floor);
            }
        }

        variants = [.. variants, new(ApiFloor, "(in the load generator)", [], false)];

        var summary = variants.Select(v =>
        {
            var mine = samples.Where(s => s.Variant == v.Name).ToList();
            return new ColdVariant(v.Name, string.Join(' ', [v.FileName, .. v.Args]), mine.Count,
                Math.Round(Stats.Median([.. mine.Select(s => s.StartToFirst200Ms)]), 1),
                Math.Round(mine.Min(s => s.StartToFirst200Ms), 1), Math.Round(mine.Max(s => s.StartToFirst200Ms), 1),
                Math.Round(Stats.Median([.. mine.Select(s => s.ListenMs)]), 1),
                Math.Round(Stats.Median([.. mine.Select(s => s.FirstRequestMs)]), 1),
                mine.Count(s => s.CreatedImages));
        }).ToList();
        ResultFiles.Write(env, "cold", new ColdResult(summary, samples, 1));
        await cluster.DeleteNamespaceAsync(ns);
    }

    private static string WorkloadOf(Variant variant, int run) =>
        $"cold-{variant.Key ?? (variant.FileName == "dotnet" ? "jit" : variant.IsCachier ? "aot" : "echo")}-{run}";

    private static string FloorWorkload(int run) => $"cold-floor-{run}";

    private static async Task<ColdRun> OnceAsync(BenchEnv env, Cluster cluster, HttpClient client, string ns, Variant variant, int run,
        IReadOnlyDictionary<string, string>? extraEnvironment)
    {
        var workload = WorkloadOf(variant, run);

        var port = Ports.Free();
        var environment = variant.IsCachier ? env.FunctionEnvironment(port) : BenchEnv.EchoEnvironment(port);
        foreach (var (key, value) in (variant.Environment ?? []).Concat(extraEnvironment ?? new Dictionary<string, string>()))
        {
            environment[key] = value;
        }

        var url = new Uri($"http://127.0.0.1:{port}/");
        var log = Path.Combine(env.LogsDir, $"cold-{workload}.log");

        var started = Stopwatch.GetTimestamp();
        await using var process = FunctionProcess.Start(variant.FileName, variant.Args, environment, port, log);
        var attempts = 0;
        while (Stopwatch.GetElapsedTime(started) < TimeSpan.FromSeconds(30))
        {
            attempts++;
            var sent = Stopwatch.GetTimestamp();
            try
            {
                using var request = Events.RefDeployment(url, "add", ns, workload);
                using var response = await client.SendAsync(request);
                var body = await response.Content.ReadAsStringAsync();
                var done = Stopwatch.GetTimestamp();
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    var created = variant.IsCachier && Created(body) > 0;
                    return new ColdRun(variant.Name, run,
                        Math.Round(Stopwatch.GetElapsedTime(started, done).TotalMilliseconds, 2),
                        Math.Round(Stopwatch.GetElapsedTime(started, sent).TotalMilliseconds, 2),
                        Math.Round(Stopwatch.GetElapsedTime(sent, done).TotalMilliseconds, 2),
                        attempts, created, variant.IsCachier ? Summary(body) : "echoed");
                }

                // 503 (say, a transient API failure): the event is redelivered, as a sender would.
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            if (process.HasExited)
            {
                throw new InvalidOperationException($"{variant.Name} exited during start-up; see {log}");
            }

            await Task.Delay(1);
        }

        throw new TimeoutException($"{variant.Name} did not answer 200 within 30 s; see {log}");
    }

    /// <summary>
    /// What the first event costs at the API server, without any process start: a new HTTPS connection (TLS
    /// handshake) with the function's token, then the GET, the LIST and the POST that Cachier makes for a new
    /// one-image Deployment. Measured from the warm load generator, so it holds no start-up cost of its own.
    /// </summary>
    private static async Task<ColdRun> ApiFloorAsync(BenchEnv env, Cluster cluster, string ns, int run)
    {
        var workload = FloorWorkload(run);
        var started = Stopwatch.GetTimestamp();
        using var client = Http.ApiClient(env, env.FunctionToken, "cachier-bench-floor/1.0");
        using var get = await client.GetAsync($"/apis/apps/v1/namespaces/{ns}/deployments/{workload}");
        _ = await get.Content.ReadAsByteArrayAsync();
        var connected = Stopwatch.GetTimestamp();
        using var list = await client.GetAsync($"/apis/caching.internal.knative.dev/v1alpha1/namespaces/{ns}/images?labelSelector=controller%3D{workload}");
        _ = await list.Content.ReadAsByteArrayAsync();
        var image = new System.Text.Json.Nodes.JsonObject
        {
            ["apiVersion"] = "caching.internal.knative.dev/v1alpha1",
            ["kind"] = "Image",
            ["metadata"] = new System.Text.Json.Nodes.JsonObject
            {
                ["name"] = $"{workload}-floor",
                ["labels"] = new System.Text.Json.Nodes.JsonObject { ["controller"] = workload },
            },
            ["spec"] = new System.Text.Json.Nodes.JsonObject { ["image"] = Cluster.Image(workload, 0) },
        }.ToJsonString();
        using var post = await client.PostAsync($"/apis/caching.internal.knative.dev/v1alpha1/namespaces/{ns}/images", Http.Json(image));
        _ = await post.Content.ReadAsByteArrayAsync();
        var done = Stopwatch.GetTimestamp();
        var ok = get.IsSuccessStatusCode && list.IsSuccessStatusCode && post.IsSuccessStatusCode;
        return new ColdRun(ApiFloor, run, Math.Round(Stopwatch.GetElapsedTime(started, done).TotalMilliseconds, 2), 0,
            Math.Round(Stopwatch.GetElapsedTime(started, done).TotalMilliseconds, 2), 1, post.IsSuccessStatusCode,
            ok ? $"GET (with TLS handshake) {Stopwatch.GetElapsedTime(started, connected).TotalMilliseconds:0.0} ms" : $"failed: {(int)get.StatusCode}/{(int)list.StatusCode}/{(int)post.StatusCode}");
    }

    private static int Created(string body)
    {
        try
        {
            using var doc = System.Text.Json.JsonDocument.Parse(body);
            return doc.RootElement.TryGetProperty("outcome", out var o) && o.GetProperty("result").GetString() == "reconciled"
                ? o.GetProperty("created").GetInt32()
                : 0;
        }
        catch (System.Text.Json.JsonException)
        {
            return 0;
        }
    }

    private static string Summary(string body) => Created(body) is var n and > 0 ? $"reconciled, created {n}" : body;
}
