using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace Cachier.Soak;

public sealed record Options(string FunctionDll, string Kubeconfig, double Seconds, double Rate, int Workloads, double Window,
    double ResyncEvery, string? Results, string Log, int Seed)
{
    public static Options Parse(string[] args)
    {
        var map = new Dictionary<string, string>();
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            map[args[i].TrimStart('-')] = args[i + 1];
        }

        string Get(string key, string fallback) => map.GetValueOrDefault(key, fallback);
        double Number(string key, double fallback) => double.Parse(Get(key, fallback.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);
        return new Options(
            map["function-dll"], map["kubeconfig"], Number("seconds", 300), Number("rate", 20), (int)Number("workloads", 40),
            Number("window", 30), Number("resync-every", 60), map.GetValueOrDefault("results"),
            Get("log", Path.Combine(Path.GetTempPath(), "cachier-soak-function.log")), (int)Number("seed", 8));
    }
}

/// <summary>One event: what was done, how long Cachier took to answer, and whether the answer was right.</summary>
public sealed record Sample(double At, string Action, double Ms, int Status, string? Result, bool Ok);

/// <summary>Plain REST calls to the API server with the credentials of a kubeconfig (the client certificate of the admin).</summary>
public sealed class KubeRest : IDisposable
{
    private readonly k8s.Kubernetes _client;

    public KubeRest(string kubeconfig) =>
        _client = new k8s.Kubernetes(k8s.KubernetesClientConfiguration.BuildConfigFromConfigFile(kubeconfig));

    public async Task<(HttpStatusCode Status, JsonNode? Body)> SendAsync(HttpMethod method, string path, JsonNode? body, string contentType = "application/json")
    {
        using var request = new HttpRequestMessage(method, _client.BaseUri.ToString().TrimEnd('/') + path);
        if (body is not null)
        {
            request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        }

        if (_client.Credentials is { } credentials)
        {
            await credentials.ProcessHttpRequestAsync(request, CancellationToken.None);
        }

        using var response = await _client.HttpClient.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length > 0 ? JsonNode.Parse(text) : null);
    }

    public void Dispose() => _client.Dispose();
}

public static class KubeResults
{
    public static (HttpStatusCode Status, JsonNode? Body) Ensure(this (HttpStatusCode Status, JsonNode? Body) result, string what) =>
        (int)result.Status is >= 200 and < 300 ? result : throw new InvalidOperationException($"{what}: {(int)result.Status} {result.Body}");
}

/// <summary>The soak's Deployments: which exist, with which images; at most one action per workload at a time.</summary>
public sealed class WorkloadPool(string ns, Random random)
{
    private static readonly string[] Images =
    [
        "nginx:1.25", "nginx:1.27", "redis:7", "busybox:1.36", "alpine:3.20", "postgres:16", "memcached:1.6", "envoy:1.30", "golang:1.23", "python:3.12",
    ];

    private readonly Dictionary<string, string[]> _live = [];
    private readonly HashSet<string> _busy = [];
    private int _next;

    public string Namespace => ns;

    public IReadOnlyList<string> Names
    {
        get
        {
            lock (_live)
            {
                return [.. _live.Keys];
            }
        }
    }

    public IReadOnlyDictionary<string, string[]> Live
    {
        get
        {
            lock (_live)
            {
                return new Dictionary<string, string[]>(_live);
            }
        }
    }

    public async Task<string> AddAsync(KubeRest kube)
    {
        string name;
        string[] images;
        lock (_live)
        {
            name = $"soak-{_next++}";
            images = PickImages();
            _busy.Add(name);
        }

        (await kube.SendAsync(HttpMethod.Post, $"/apis/apps/v1/namespaces/{ns}/deployments", Deployment(name, images))).Ensure($"create {name}");
        lock (_live)
        {
            _live[name] = images;
            _busy.Remove(name);
        }

        return name;
    }

    /// <summary>60% status-only updates, 15% image changes, 10% adds, 10% deletes, 5% Resource-mode updates.</summary>
    public SoakAction NextAction()
    {
        lock (_live)
        {
            var roll = random.Next(100);
            var free = _live.Keys.Where(k => !_busy.Contains(k)).ToList();
            if (roll < 10 && _live.Count < 80 || free.Count == 0)
            {
                return new SoakAction("add", null, this);
            }

            var name = free[random.Next(free.Count)];
            _busy.Add(name);
            var kind = roll switch
            {
                < 20 when _live.Count > 10 => "delete",
                < 20 => "status",
                < 35 => "image",
                < 40 => "resource",
                _ => "status",
            };
            return new SoakAction(kind, name, this);
        }
    }

    public string[] PickImages()
    {
        var count = random.Next(1, 4);
        return Enumerable.Range(0, count).Select(_ => Images[random.Next(Images.Length)]).ToArray();
    }

    public void Done(string name, string[]? images)
    {
        lock (_live)
        {
            if (images is null)
            {
                _live.Remove(name);
            }
            else
            {
                _live[name] = images;
            }

            _busy.Remove(name);
        }
    }

    public string[] ImagesOf(string name)
    {
        lock (_live)
        {
            return _live[name];
        }
    }

    public static JsonObject Deployment(string name, string[] images) => new()
    {
        ["apiVersion"] = "apps/v1",
        ["kind"] = "Deployment",
        ["metadata"] = new JsonObject { ["name"] = name },
        ["spec"] = new JsonObject
        {
            ["replicas"] = 1,
            ["selector"] = new JsonObject { ["matchLabels"] = new JsonObject { ["app"] = name } },
            ["template"] = new JsonObject
            {
                ["metadata"] = new JsonObject { ["labels"] = new JsonObject { ["app"] = name } },
                ["spec"] = new JsonObject
                {
                    ["containers"] = new JsonArray(images.Select((image, i) => (JsonNode)new JsonObject { ["name"] = $"c{i}", ["image"] = image }).ToArray()),
                },
            },
        },
    };
}

public sealed class SoakAction(string kind, string? name, WorkloadPool pool)
{
    public async Task<Sample> RunAsync(KubeRest kube, FunctionHost function, Stopwatch clock)
    {
        var ns = pool.Namespace;
        var at = clock.Elapsed.TotalSeconds;
        try
        {
            switch (kind)
            {
                case "add":
                    var added = await pool.AddAsync(kube);
                    return await function.MeasureAsync(at, kind, () => function.SendRefAsync("add", ns, added), "reconciled");
                case "delete":
                    (await kube.SendAsync(HttpMethod.Delete, $"/apis/apps/v1/namespaces/{ns}/deployments/{name}", null)).Ensure($"delete {name}");
                    pool.Done(name!, null);
                    return await function.MeasureAsync(at, kind, () => function.SendRefAsync("delete", ns, name!), "deleted");
                case "image":
                    var images = pool.PickImages();
                    (await kube.SendAsync(HttpMethod.Patch, $"/apis/apps/v1/namespaces/{ns}/deployments/{name}",
                        new JsonObject { ["spec"] = WorkloadPool.Deployment(name!, images)["spec"]!.DeepClone() }, "application/merge-patch+json")).Ensure($"patch {name}");
                    var changed = await function.MeasureAsync(at, kind, () => function.SendRefAsync("update", ns, name!), "reconciled");
                    pool.Done(name!, images);
                    return changed;
                case "resource":
                    var obj = (await kube.SendAsync(HttpMethod.Get, $"/apis/apps/v1/namespaces/{ns}/deployments/{name}", null)).Ensure($"get {name}").Body!;
                    obj["apiVersion"] = "apps/v1";
                    obj["kind"] = "Deployment";
                    var sample = await function.MeasureAsync(at, kind, () => function.SendResourceAsync(obj.AsObject()), "reconciled");
                    pool.Done(name!, pool.ImagesOf(name!));
                    return sample;
                default:
                    var status = await function.MeasureAsync(at, "status", () => function.SendRefAsync("update", ns, name!), "reconciled");
                    pool.Done(name!, pool.ImagesOf(name!));
                    return status;
            }
        }
        catch (Exception e) when (e is HttpRequestException or InvalidOperationException or TaskCanceledException)
        {
            if (name is not null)
            {
                pool.Done(name, kind == "delete" ? null : pool.ImagesOf(name));
            }

            return new Sample(at, kind, 0, 0, e.GetType().Name + ": " + e.Message, false);
        }
    }
}

/// <summary>The function as its own process (the Release build, bench/Support/FunctionProcess.cs), on a free loopback port.</summary>
public sealed class FunctionHost : IAsyncDisposable
{
    private readonly FunctionProcess _process;
    private readonly HttpClient _client;

    private FunctionHost(FunctionProcess process, HttpClient client)
    {
        _process = process;
        _client = client;
    }

    public int Port => _process.Port;

    public int Pid => _process.Pid;

    public static async Task<FunctionHost> StartAsync(Options options, IReadOnlyList<string> excluded)
    {
        var port = Ports.Free();
        var environment = new Dictionary<string, string>
        {
            ["PORT"] = port.ToString(CultureInfo.InvariantCulture),
            ["Cachier__Kubeconfig"] = options.Kubeconfig,
            ["Cachier__Resources"] = "Deployment.v1.apps",
            // The soak sends unauthenticated events; its resyncs come back to back.
            ["Cachier__Authentication__Mode"] = "None",
            ["Cachier__ResyncMinInterval"] = "00:00:00",
        };
        for (var i = 0; i < excluded.Count; i++)
        {
            environment[$"Cachier__ExcludedNamespaces__{i}"] = excluded[i];
        }

        File.Delete(options.Log);
        var process = FunctionProcess.Start("dotnet", [options.FunctionDll], environment, port, options.Log, Environment.CurrentDirectory);
        var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64 })
        {
            BaseAddress = process.Url,
            Timeout = TimeSpan.FromSeconds(60),
        };
        await process.WaitReadyAsync(client, TimeSpan.FromSeconds(60));
        return new FunctionHost(process, client);
    }

    public long RssKb() => _process.ReadMemory().VmRssKiB;

    public async Task<Sample> MeasureAsync(double at, string action, Func<Task<HttpResponseMessage>> send, string expected)
    {
        var started = Stopwatch.GetTimestamp();
        using var response = await send();
        var text = await response.Content.ReadAsStringAsync();
        var ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        var result = response.StatusCode == HttpStatusCode.OK ? (string?)JsonNode.Parse(text)?["outcome"]?["result"] : text;
        // A workload deleted by a concurrent action answers "gone": still a correct answer.
        var ok = response.StatusCode == HttpStatusCode.OK && (result == expected || result == "gone");
        return new Sample(at, action, ms, (int)response.StatusCode, result, ok);
    }

    public Task<HttpResponseMessage> SendRefAsync(string verb, string ns, string name) =>
        _client.SendAsync(Events.RefDeployment(_process.Url, verb, ns, name));

    public Task<HttpResponseMessage> SendResourceAsync(JsonObject obj) =>
        _client.SendAsync(Events.StructuredResource(_process.Url, "update", obj));

    public async Task<string> ResyncAsync()
    {
        using var response = await _client.PostAsync("/resync", null);
        var text = await response.Content.ReadAsStringAsync();
        return response.StatusCode == HttpStatusCode.OK ? (string?)JsonNode.Parse(text)?["result"] ?? "?" : $"{(int)response.StatusCode}";
    }

    /// <summary>SIGTERM, as Knative scales down; the exit code.</summary>
    public Task<int> TerminateAsync() => _process.TerminateAsync(TimeSpan.FromSeconds(40));

    public async ValueTask DisposeAsync()
    {
        _client.Dispose();
        await _process.DisposeAsync();
    }
}

public sealed record ConvergenceResult(int Workloads, int Expected, int Missing, int Extra, int Orphans, bool Ok);

public static class Convergence
{
    /// <summary>Images of live workloads exactly as expected; Images of deleted ones are garbage collection's (reported, waited for a while).</summary>
    public static async Task<ConvergenceResult> CheckAsync(KubeRest kube, string ns, WorkloadPool pool)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var deployments = (await kube.SendAsync(HttpMethod.Get, $"/apis/apps/v1/namespaces/{ns}/deployments", null)).Ensure("list deployments").Body!["items"]!.AsArray();
            var expected = new HashSet<string>();
            var uids = new HashSet<string>();
            foreach (var d in deployments)
            {
                var name = (string)d!["metadata"]!["name"]!;
                var uid = (string)d["metadata"]!["uid"]!;
                uids.Add(uid);
                foreach (var image in d["spec"]!["template"]!["spec"]!["containers"]!.AsArray().Select(c => (string)c!["image"]!).Distinct())
                {
                    expected.Add(ExpectedNames.Image(name, uid, image));
                }
            }

            var images = (await kube.SendAsync(HttpMethod.Get, $"/apis/caching.internal.knative.dev/v1alpha1/namespaces/{ns}/images", null)).Ensure("list images").Body!["items"]!.AsArray();
            var ours = images.Where(i => uids.Contains((string?)i!["metadata"]!["labels"]?["controller"] ?? "")).Select(i => (string)i!["metadata"]!["name"]!).ToList();
            var orphans = images.Count - ours.Count;
            var missing = expected.Count(e => !ours.Contains(e));
            var extra = ours.Count(o => !expected.Contains(o)) + (ours.Count - ours.Distinct().Count());
            if (orphans == 0 || deadline.Elapsed > TimeSpan.FromSeconds(60))
            {
                return new ConvergenceResult(deployments.Count, expected.Count, missing, extra, orphans, missing == 0 && extra == 0);
            }

            // Garbage collection of the deleted workloads' Images is the controller-manager's, asynchronous.
            await Task.Delay(TimeSpan.FromSeconds(2));
        }
    }
}

public static class Report
{
    public static string Write(Options options, List<Sample> samples, List<(double At, long Kb)> rss, List<(double At, double Ms, string Result)> resyncs,
        double elapsed, string finalResync, ConvergenceResult check, int exitCode)
    {
        var text = new StringBuilder();
        var errors = samples.Where(s => !s.Ok).ToList();
        text.AppendLine("# Soak results").AppendLine();
        text.AppendLine($"Run {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC by `bench/soak/run.sh`: {options.Seconds:0} s at {options.Rate:0.#} events/s, "
            + $"{options.Workloads} initial Deployments, resync every {options.ResyncEvery:0} s; {Environment.ProcessorCount} cores, .NET {Environment.Version}; "
            + "the Release build of the function (JIT) as its own process, against the local kube-apiserver v1.20 (loopback).").AppendLine();
        text.AppendLine("Mix: 60% status-only updates (Reference mode), 15% image changes, 10% adds, 10% deletes, 5% Resource-mode updates.").AppendLine();
        text.AppendLine("## Summary").AppendLine();
        text.AppendLine($"- events: {samples.Count} in {elapsed:0.0} s ({samples.Count / elapsed:0.0}/s); **errors: {errors.Count}**");
        foreach (var group in samples.GroupBy(s => s.Action).OrderBy(g => g.Key))
        {
            text.AppendLine($"  - {group.Key}: {group.Count()} events, p50 {Percentile(group, 50):0.0} ms, p99 {Percentile(group, 99):0.0} ms");
        }

        text.AppendLine($"- resyncs: {string.Join(", ", resyncs.OrderBy(r => r.At).Select(r => $"{r.Result} in {r.Ms:0} ms"))}; final: {finalResync}");
        text.AppendLine($"- convergence: {check.Workloads} live Deployments, {check.Expected} expected Images, missing {check.Missing}, extra or duplicate {check.Extra}, "
            + $"left for garbage collection {check.Orphans} -> {(check.Ok ? "exact" : "NOT exact")}");
        text.AppendLine($"- SIGTERM at the end: exit code {exitCode}");
        if (errors.Count > 0)
        {
            text.AppendLine($"- first errors: {string.Join("; ", errors.Take(5).Select(e => $"{e.Action} {e.Status} {e.Result}"))}");
        }

        text.AppendLine().AppendLine($"## Per {options.Window:0}-s window").AppendLine();
        text.AppendLine("| window (s) | events | errors | p50 ms | p99 ms | max ms | RSS mean MiB | RSS max MiB |");
        text.AppendLine("|---|---|---|---|---|---|---|---|");
        for (var from = 0.0; from < elapsed - 0.5; from += options.Window)
        {
            var to = from + options.Window;
            var window = samples.Where(s => s.At >= from && s.At < to).ToList();
            var memory = rss.Where(r => r.At >= from && r.At < to).Select(r => r.Kb / 1024.0).DefaultIfEmpty(0).ToList();
            text.AppendLine(
                $"| {from:0}-{Math.Min(to, elapsed):0} | {window.Count} | {window.Count(s => !s.Ok)} | {Percentile(window, 50):0.0} | {Percentile(window, 99):0.0} | "
                + $"{(window.Count == 0 ? 0 : window.Max(s => s.Ms)):0.0} | {memory.Average():0.0} | {memory.Max():0.0} |");
        }

        return text.ToString();
    }

    private static double Percentile(IEnumerable<Sample> samples, double p)
    {
        var sorted = samples.Where(s => s.Ok).Select(s => s.Ms).Order().ToList();
        return sorted.Count == 0 ? 0 : sorted[Math.Clamp((int)Math.Ceiling(p / 100 * sorted.Count) - 1, 0, sorted.Count - 1)];
    }
}
