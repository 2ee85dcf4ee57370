using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;

namespace Cachier.Bench.Warm;

/// <summary>
/// The figure that matters (issue: the warmer): a workload's new pod (scale 0 -> 1), create -> Ready, through the
/// bandwidth-limited registry path with the large image, side by side in one run:
///   (a) nothing warmed, (b) after Cachier and the warmer ran from the stand-in source's events,
///   (c) the image pulled onto the nodes by hand beforehand (the floor).
/// Also: kubectl apply -> the Image Ready (b), the raw pull time, and the warmer's API calls per Image per node.
/// Run by bench/warm/run.sh, which starts Cachier, the warmer and the two stand-in sources.
/// </summary>
internal static class WarmBench
{
    private const string Warmer = "system:serviceaccount:cachier-system:cachier-warmer";

    public static async Task<int> Main(string[] args)
    {
        var runs = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 5;
        var report = args.Length > 1 ? args[1] : "warm-results.md";
        var env = BenchEnv.FromEnvironment();
        using var api = new Api(env.Kubeconfig);
        var image = $"{env.SlowRegistry}/lab/large:1";
        var results = new Dictionary<string, List<double>> { ["a"] = [], ["b"] = [], ["c"] = [], ["ready"] = [], ["pull"] = [] };
        var warmerCalls = new List<(int Calls, string Verbs)>();

        for (var run = 1; run <= runs; run++)
        {
            foreach (var c in new[] { "a", "b", "c" })
            {
                var ns = $"warm-bench-{c}-{run}";
                await RemoveEverywhereAsync(api, env, image);
                await api.CreateNamespaceAsync(ns);
                // (a) and (c): the workload opts out, so Cachier writes no Image and the warmer pulls nothing.
                var warmed = c == "b";
                var auditFrom = warmed ? AuditLog.Mark(env.AuditLog) : 0;
                var applied = Stopwatch.GetTimestamp();
                await api.CreateDeploymentAsync(ns, "app", image, optOut: !warmed);
                if (warmed)
                {
                    await api.WaitImageReadyAsync(ns, TimeSpan.FromMinutes(5));
                    results["ready"].Add(Stopwatch.GetElapsedTime(applied).TotalSeconds);
                    var calls = AuditLog.Calls(env.AuditLog, auditFrom, Warmer);
                    warmerCalls.Add((calls.Count, AuditLog.ByVerb(calls)));
                }
                else if (c == "c")
                {
                    var pull = Stopwatch.GetTimestamp();
                    await Task.WhenAll(env.Sockets.Select(s => Ctr.RunAsync(s, $"images pull --plain-http {image}")));
                    results["pull"].Add(Stopwatch.GetElapsedTime(pull).TotalSeconds);
                }

                var start = await api.ScaleAndWaitReadyAsync(ns, "app", TimeSpan.FromMinutes(5));
                results[c].Add(start.TotalSeconds);
                Console.WriteLine($"run {run} case {c}: pod start {start.TotalSeconds:0.00} s{(warmed ? $", apply -> Image Ready {results["ready"][^1]:0.00} s" : "")}");
                await api.DeleteNamespaceAsync(ns);
            }
        }

        var quiet = await SettledNodeEventsAsync(api, env, image);
        await RemoveEverywhereAsync(api, env, image);
        var text = Report(results, warmerCalls, env, runs) + quiet;
        await File.WriteAllTextAsync(report, text);
        Console.WriteLine(text);
        return 0;
    }

    /// <summary>
    /// A settled cluster: one warmed workload, its image in every node's image list and no pull pod left. Then Node
    /// events that change nothing the warmer reads: an annotation on each node, as node agents and autoscalers write
    /// them (and the kubelet's status report every 5 minutes is), paced a second apart. Reported: the events, and the
    /// warmer's calls until it has read each node once per event (bounded: a pass per event would never get there).
    /// </summary>
    private static async Task<string> SettledNodeEventsAsync(Api api, BenchEnv env, string image)
    {
        const string ns = "warm-bench-quiet";
        const int rounds = 10;
        await RemoveEverywhereAsync(api, env, image);
        await api.CreateNamespaceAsync(ns);
        await api.CreateDeploymentAsync(ns, "app", image, optOut: false);
        await api.WaitImageReadyAsync(ns, TimeSpan.FromMinutes(5));
        await api.WaitSettledAsync(image, TimeSpan.FromMinutes(3));
        var from = AuditLog.Mark(env.AuditLog);
        var nodes = await api.NodeNamesAsync();
        for (var round = 1; round <= rounds; round++)
        {
            foreach (var node in nodes)
            {
                await api.AnnotateNodeAsync(node, "bench.cachier.dev/touched", round.ToString(CultureInfo.InvariantCulture));
            }

            await Task.Delay(TimeSpan.FromSeconds(1)); // paces the events, as they come apart in a cluster
        }

        var events = AuditLog.Calls(env.AuditLog, from, "system:node:", prefix: true).Count(v => v == "patch nodes/status") + rounds * nodes.Count;
        // Each event is answered by a read of that node or by a pass (which lists the nodes): wait for that many.
        var calls = await AuditLog.WaitCallsAsync(env.AuditLog, from, Warmer, ["get nodes", "list nodes"], events, TimeSpan.FromSeconds(30));
        var verbs = AuditLog.ByVerb(calls);
        await api.DeleteNamespaceAsync(ns);
        return string.Create(CultureInfo.InvariantCulture,
            $"- A settled cluster (one warmed Image, its image in every node's `status.images`, no pull pod), then {events} Node events that change nothing the warmer reads ({rounds} annotations per node, and the kubelets' status reports meanwhile): the warmer's calls {calls.Count} ({(calls.Count > 0 ? verbs : "none")}), {(double)calls.Count / events:0.0} per event; a pass per event would be 3 LISTs each.\n");
    }

    /// <summary>No namespace of the bench left (so no Image asks for the image again), then the image off every node.</summary>
    private static async Task RemoveEverywhereAsync(Api api, BenchEnv env, string image)
    {
        await api.WaitNamespacesGoneAsync("warm-bench-", TimeSpan.FromMinutes(3));
        foreach (var socket in env.Sockets)
        {
            var repository = image[..image.LastIndexOf(':')].Split('/', 2)[1];
            foreach (var line in (await Ctr.RunAsync(socket, "containers ls")).Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1))
            {
                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                // Containers of pods already deleted, which the kubelet would remove only at its next garbage collection:
                // their snapshots would let the next "pull" skip the layers.
                if (fields.Length > 1 && fields[1].Contains(repository, StringComparison.Ordinal))
                {
                    await Ctr.TryRunAsync(socket, $"tasks rm -f {fields[0]}");
                    await Ctr.TryRunAsync(socket, $"containers rm {fields[0]}");
                }
            }

            foreach (var reference in Ctr.ReferencesOf(await Ctr.RunAsync(socket, "images ls"), repository))
            {
                await Ctr.TryRunAsync(socket, $"images rm --sync {reference}");
            }
        }

        // The warmer reads the nodes' image lists, which trail the runtime by up to a minute or so.
        await api.WaitNodesForgetAsync(image, TimeSpan.FromMinutes(3));
    }

    private static string Report(Dictionary<string, List<double>> r, List<(int Calls, string Verbs)> calls, BenchEnv env, int runs)
    {
        double Median(string k) => Stats.Median(r[k]);
        var (a, b, c, ready, pull) = (Median("a"), Median("b"), Median("c"), Median("ready"), Median("pull"));
        // The warmer pulls onto every node at once, over the one registry path: the hand pull on every node at once is
        // that same pull, unless it is shorter than one node's pull alone ((a) - (c)): then containerd kept the layers.
        var rawPull = Math.Max(pull, a - c);
        var perImageNode = calls.Count == 0 ? 0 : Stats.Median(calls.Select(x => (double)x.Calls).ToList()) / env.Sockets.Count;
        string Row(string name, string k) => $"| {name} | {Stats.Median(r[k]):0.00} | {string.Join(" ", r[k].Select(v => v.ToString("0.00", CultureInfo.InvariantCulture)))} |";
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"Image `lab/large:1` (busybox + 300 MiB of random data, 316 MB compressed) through the {env.Rate} registry path; {env.Sockets.Count} node(s); {runs} runs, cases interleaved (a, b, c per run).");
        sb.AppendLine();
        sb.AppendLine("| case | median (s) | every run (s) |");
        sb.AppendLine("|---|---|---|");
        sb.AppendLine(Row("(a) pod start, nothing warmed", "a"));
        sb.AppendLine(Row("(b) pod start, after Cachier and the warmer ran from the source's events", "b"));
        sb.AppendLine(Row("(c) pod start, image pulled by hand beforehand (floor)", "c"));
        sb.AppendLine(Row("apply -> the Image Ready (b)", "ready"));
        sb.AppendLine(Row("pull by hand on every node at once (`ctr images pull`, (c))", "pull"));
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"- **(b) / (c) = {b / c:0.00}** (target <= 1.2); **(a) / (b) = {a / b:0.00}**: warming takes the pull off the pod's start.");
        sb.AppendLine(CultureInfo.InvariantCulture, $"- Raw pull time: `ctr` pull on every node at once {pull:0.00} s (what the warmer pulls), or one node's pull (a) - (c) = {a - c:0.00} s if that is longer (layers kept) = {rawPull:0.00} s; apply -> Image Ready {ready:0.00} s = raw pull + {ready - rawPull:0.00} s (target: at most raw pull + 3 s).");
        sb.AppendLine(CultureInfo.InvariantCulture, $"- The warmer's API calls from apply to Ready (audit log, its ServiceAccount), per Image per node: {perImageNode:0.0} (median over runs; one Image, {env.Sockets.Count} node(s)); by verb in the last run: {(calls.Count > 0 ? calls[^1].Verbs : "none")}.");
        return sb.ToString();
    }
}

internal sealed record BenchEnv(string Kubeconfig, string SlowRegistry, IReadOnlyList<string> Sockets, string AuditLog, string Rate)
{
    public static BenchEnv FromEnvironment()
    {
        static string Need(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v
            ? v
            : throw new InvalidOperationException($"{name} is not set: run bench/warm/run.sh (it brings the node lab up)");
        return new BenchEnv(
            Need("KUBECONFIG"),
            Need("CACHIER_REGISTRY_SLOW"),
            Need("CACHIER_CONTAINERD_SOCKETS").Split(',', StringSplitOptions.RemoveEmptyEntries),
            Need("BENCH_AUDIT_LOG"),
            Environment.GetEnvironmentVariable("CACHIER_REGISTRY_RATE") ?? "25MB/s");
    }
}

internal static class Stats
{
    public static double Median(List<double> values)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }

        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
    }
}

/// <summary>The API server's audit log (level Metadata, one JSON object per line): the calls of one user from a mark on.</summary>
internal static class AuditLog
{
    public static long Mark(string path) => File.Exists(path) ? new FileInfo(path).Length : 0;

    /// <param name="prefix">Every user whose name starts with <paramref name="user"/> (the kubelets: <c>system:node:</c>).</param>
    public static List<string> Calls(string path, long from, string user, bool prefix = false)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        stream.Seek(from, SeekOrigin.Begin);
        using var reader = new StreamReader(stream);
        var verbs = new List<string>();
        while (reader.ReadLine() is { } line)
        {
            if (line.Contains($"\"username\":\"{user}{(prefix ? "" : "\"")}", StringComparison.Ordinal) && JsonNode.Parse(line) is { } e
                && (string?)e["stage"] == "ResponseComplete")
            {
                var resource = (string?)e["objectRef"]?["resource"] ?? "?";
                var sub = (string?)e["objectRef"]?["subresource"];
                verbs.Add($"{e["verb"]} {resource}{(sub is null ? "" : "/" + sub)}");
            }
        }

        return verbs;
    }

    /// <summary>"verb resource count" per kind of call, in order: <c>get nodes 20, list pods 3</c>.</summary>
    public static string ByVerb(IEnumerable<string> calls) =>
        string.Join(", ", calls.GroupBy(v => v).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Key} {g.Count()}"));

    /// <summary>The calls of <paramref name="user"/> from the mark on, once <paramref name="count"/> of them are one of <paramref name="verbs"/> (or after <paramref name="bound"/>).</summary>
    public static async Task<List<string>> WaitCallsAsync(string path, long from, string user, string[] verbs, int count, TimeSpan bound)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var calls = Calls(path, from, user);
            if (calls.Count(verbs.Contains) >= count || clock.Elapsed > bound)
            {
                return calls;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(500)); // paces the reads; the loop is bounded above
        }
    }
}

internal static class Ctr
{
    /// <summary>
    /// From <c>ctr images ls</c>: every reference to the images of <paramref name="repository"/>, including the CRI's
    /// image-id reference (<c>sha256:...</c>), which holds the content too, and image-id references left without a name.
    /// </summary>
    public static IEnumerable<string> ReferencesOf(string listing, string repository)
    {
        var rows = listing.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1)
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(f => f.Length > 2)
            .Select(f => (Ref: f[0], Digest: f[2]))
            .ToList();
        var targets = rows.Where(r => r.Ref.Contains(repository, StringComparison.Ordinal)).Select(r => r.Digest).ToHashSet();
        var named = rows.Where(r => !r.Ref.StartsWith("sha256:", StringComparison.Ordinal)).Select(r => r.Digest).ToHashSet();
        return rows.Where(r => targets.Contains(r.Digest) || (r.Ref.StartsWith("sha256:", StringComparison.Ordinal) && !named.Contains(r.Digest)))
            .Select(r => r.Ref);
    }

    public static async Task<string> RunAsync(string socket, string arguments)
    {
        var (code, stdout, stderr) = await TryRunAsync(socket, arguments);
        return code == 0 ? stdout : throw new InvalidOperationException($"ctr {arguments} exited {code}: {stderr}");
    }

    public static async Task<(int Code, string Stdout, string Stderr)> TryRunAsync(string socket, string arguments)
    {
        var start = new ProcessStartInfo("ctr", $"--address {socket} -n k8s.io {arguments}") { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout, await stderr);
    }
}

/// <summary>The admin's REST calls (token and CA from the local cluster's kubeconfig).</summary>
internal sealed class Api : IDisposable
{
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(50);
    private readonly HttpClient _http;

    public Api(string kubeconfig)
    {
        var lines = File.ReadAllLines(kubeconfig).Select(l => l.Trim()).ToList();
        string Value(string key) => lines.First(l => l.StartsWith(key + ":", StringComparison.Ordinal))[(key.Length + 1)..].Trim();
        var ca = X509CertificateLoader.LoadCertificate(Convert.FromBase64String(Value("certificate-authority-data")));
        var handler = new HttpClientHandler
        {
            ServerCertificateCustomValidationCallback = (_, cert, chain, _) =>
            {
                chain!.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.CustomTrustStore.Add(ca);
                return cert is not null && chain.Build(cert);
            },
        };
        _http = new HttpClient(handler) { BaseAddress = new Uri(Value("server")), Timeout = TimeSpan.FromSeconds(30) };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Value("token"));
    }

    public Task CreateNamespaceAsync(string ns) =>
        SendAsync(HttpMethod.Post, "/api/v1/namespaces", new JsonObject { ["apiVersion"] = "v1", ["kind"] = "Namespace", ["metadata"] = new JsonObject { ["name"] = ns } });

    public Task DeleteNamespaceAsync(string ns) => SendAsync(HttpMethod.Delete, $"/api/v1/namespaces/{ns}", null);

    public async Task WaitNamespacesGoneAsync(string prefix, TimeSpan bound)
    {
        var clock = Stopwatch.StartNew();
        while ((await GetAsync("/api/v1/namespaces"))["items"]!.AsArray().Any(n => ((string?)n!["metadata"]!["name"])!.StartsWith(prefix, StringComparison.Ordinal)))
        {
            if (clock.Elapsed > bound)
            {
                throw new TimeoutException($"namespaces {prefix}* still there after {bound}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(500)); // paces the polls; the loop is bounded above
        }
    }

    public async Task<List<string>> NodeNamesAsync() =>
        [.. (await GetAsync("/api/v1/nodes"))["items"]!.AsArray().Select(n => (string)n!["metadata"]!["name"]!)];

    /// <summary>A merge patch of one annotation: a Node event that changes nothing the warmer reads.</summary>
    public async Task AnnotateNodeAsync(string node, string key, string value)
    {
        using var request = new HttpRequestMessage(HttpMethod.Patch, $"/api/v1/nodes/{node}")
        {
            Content = new StringContent(new JsonObject { ["metadata"] = new JsonObject { ["annotations"] = new JsonObject { [key] = value } } }.ToJsonString(),
                Encoding.UTF8, "application/merge-patch+json"),
        };
        using var response = await _http.SendAsync(request);
        response.EnsureSuccessStatusCode();
    }

    /// <summary>Every node lists <paramref name="image"/> and no pull pod is left: the warmer's next pass settles.</summary>
    public async Task WaitSettledAsync(string image, TimeSpan bound)
    {
        var clock = Stopwatch.StartNew();
        while (!(await GetAsync("/api/v1/nodes"))["items"]!.AsArray().All(n => Lists(n!, image))
               || (await GetAsync("/api/v1/pods?labelSelector=app.kubernetes.io%2Fmanaged-by%3Dcachier-warmer"))["items"]!.AsArray().Count > 0)
        {
            if (clock.Elapsed > bound)
            {
                throw new TimeoutException($"not every node lists {image}, or a pull pod is left, after {bound}");
            }

            await Task.Delay(TimeSpan.FromSeconds(1)); // paces the polls; the loop is bounded above
        }
    }

    /// <summary>The node's <c>status.images</c> names <paramref name="image"/>.</summary>
    private static bool Lists(JsonNode node, string image) =>
        node["status"]?["images"]?.AsArray().Any(i => i?["names"]?.AsArray().Any(name => (string?)name == image) == true) == true;

    public async Task WaitNodesForgetAsync(string image, TimeSpan bound)
    {
        var clock = Stopwatch.StartNew();
        while ((await GetAsync("/api/v1/nodes"))["items"]!.AsArray().Any(n => Lists(n!, image)))
        {
            if (clock.Elapsed > bound)
            {
                throw new TimeoutException($"a node still lists {image} after {bound}");
            }

            await Task.Delay(TimeSpan.FromSeconds(1)); // paces the polls; the loop is bounded above
        }
    }

    /// <summary>Replicas 0: the bench scales it to 1 to measure a new pod's start.</summary>
    public Task CreateDeploymentAsync(string ns, string name, string image, bool optOut)
    {
        var annotations = optOut ? new Dictionary<string, string> { ["cachier.mattmoor.io/decorate"] = "false" } : null;
        var containers = new JsonArray(new JsonObject
        {
            ["name"] = "app",
            ["image"] = image,
            ["imagePullPolicy"] = "IfNotPresent",
            ["command"] = new JsonArray("/bin/sleep", "3600"),
        });
        var pod = new JsonObject { ["terminationGracePeriodSeconds"] = 0, ["automountServiceAccountToken"] = false };
        return SendAsync(HttpMethod.Post, $"/apis/apps/v1/namespaces/{ns}/deployments", IdleDeployment.Manifest(ns, name, containers, annotations, pod));
    }

    public async Task WaitImageReadyAsync(string ns, TimeSpan bound)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var items = (await GetAsync($"/apis/caching.internal.knative.dev/v1alpha1/namespaces/{ns}/images"))["items"]!.AsArray();
            if (items.Count > 0 && items.All(i => i!["status"]?["conditions"]?.AsArray().Any(c => (string?)c!["type"] == "Ready" && (string?)c["status"] == "True") == true))
            {
                return;
            }

            if (clock.Elapsed > bound)
            {
                throw new TimeoutException($"the Images of {ns} not Ready after {bound}: {items.ToJsonString()}");
            }

            await Task.Delay(Poll); // paces the polls: the reading is at most this late
        }
    }

    /// <summary>Scale to 1, then the time until a pod of the Deployment is Ready (polled every 50 ms).</summary>
    public async Task<TimeSpan> ScaleAndWaitReadyAsync(string ns, string name, TimeSpan bound)
    {
        var started = Stopwatch.GetTimestamp();
        using (var patch = new HttpRequestMessage(HttpMethod.Patch, $"/apis/apps/v1/namespaces/{ns}/deployments/{name}/scale")
        {
            Content = new StringContent("{\"spec\":{\"replicas\":1}}", Encoding.UTF8, new MediaTypeHeaderValue("application/merge-patch+json")),
        })
        {
            using var response = await _http.SendAsync(patch);
            response.EnsureSuccessStatusCode();
        }

        while (true)
        {
            var pods = (await GetAsync($"/api/v1/namespaces/{ns}/pods?labelSelector=app%3D{name}"))["items"]!.AsArray();
            if (pods.Any(p => p!["status"]?["conditions"]?.AsArray().Any(c => (string?)c!["type"] == "Ready" && (string?)c["status"] == "True") == true))
            {
                return Stopwatch.GetElapsedTime(started);
            }

            if (Stopwatch.GetElapsedTime(started) > bound)
            {
                throw new TimeoutException($"no pod of {ns}/{name} Ready after {bound}: {pods.ToJsonString()}");
            }

            await Task.Delay(Poll); // paces the polls: the reading is at most this late
        }
    }

    public void Dispose() => _http.Dispose();

    private async Task<JsonNode> GetAsync(string path)
    {
        using var response = await _http.GetAsync(path);
        response.EnsureSuccessStatusCode();
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
    }

    private async Task SendAsync(HttpMethod method, string path, JsonObject? body)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        }

        using var response = await _http.SendAsync(request);
        if (!response.IsSuccessStatusCode && (int)response.StatusCode != 409 && (int)response.StatusCode != 404)
        {
            throw new HttpRequestException($"{method} {path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
    }
}
