// Soak driver for Cachier (issue 8): a steady rate of mixed CloudEvents against the real function process talking to the
// local kube-apiserver. Loopback only; every loop is bounded by the configured duration and event count.
//
// dotnet SoakDriver.dll --function-dll PATH --kubeconfig PATH [--seconds 300] [--rate 20] [--workloads 40]
//                       [--window 30] [--resync-every 60] [--results PATH] [--log PATH]
using System.Diagnostics;
using System.Text.Json.Nodes;
using Cachier.Soak;

var options = Options.Parse(args);
var random = new Random(options.Seed);
using var kube = new KubeRest(options.Kubeconfig);
var ns = $"soak-{Guid.NewGuid():N}"[..13];
Console.WriteLine($"soak: namespace {ns}, {options.Seconds} s at {options.Rate} events/s, {options.Workloads} workloads");

(await kube.SendAsync(HttpMethod.Post, "/api/v1/namespaces", new JsonObject { ["apiVersion"] = "v1", ["kind"] = "Namespace", ["metadata"] = new JsonObject { ["name"] = ns } })).Ensure("create namespace");
var pool = new WorkloadPool(ns, random);
for (var i = 0; i < options.Workloads; i++)
{
    await pool.AddAsync(kube);
}

// Every other namespace is excluded, so the soak's resyncs write nowhere but in its own namespace.
var others = ((await kube.SendAsync(HttpMethod.Get, "/api/v1/namespaces", null)).Ensure("list namespaces").Body!["items"]!.AsArray())
    .Select(n => (string)n!["metadata"]!["name"]!).Where(n => n != ns).ToList();
await using var function = await FunctionHost.StartAsync(options, others);
Console.WriteLine($"soak: function pid {function.Pid} on port {function.Port}");

var samples = new List<Sample>();
var rss = new List<(double At, long Kb)>();
var resyncs = new List<(double At, double Ms, string Result)>();
var clock = Stopwatch.StartNew();
using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(options.Seconds + 120));

// Warm-up (not measured): every workload once.
await Task.WhenAll(pool.Names.Select(name => function.SendRefAsync("add", ns, name)));

var sampler = Task.Run(async () =>
{
    using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
    while (clock.Elapsed.TotalSeconds < options.Seconds && await timer.WaitForNextTickAsync(stop.Token))
    {
        lock (rss)
        {
            rss.Add((clock.Elapsed.TotalSeconds, function.RssKb()));
        }
    }
});

var inFlight = new List<Task>();
var total = (int)(options.Seconds * options.Rate);
// Resyncs at half a period, then every period: a one-minute run still sees one.
var nextResync = options.ResyncEvery / 2;
clock.Restart();
for (var i = 0; i < total; i++)
{
    var due = TimeSpan.FromSeconds(i / options.Rate);
    if (due > clock.Elapsed)
    {
        await Task.Delay(due - clock.Elapsed, stop.Token);
    }

    if (clock.Elapsed.TotalSeconds >= nextResync)
    {
        nextResync += options.ResyncEvery;
        inFlight.Add(Task.Run(async () =>
        {
            var at = clock.Elapsed.TotalSeconds;
            var started = Stopwatch.GetTimestamp();
            var result = await function.ResyncAsync();
            lock (resyncs)
            {
                resyncs.Add((at, Stopwatch.GetElapsedTime(started).TotalMilliseconds, result));
            }
        }));
    }

    var action = pool.NextAction();
    inFlight.Add(Task.Run(async () =>
    {
        var sample = await action.RunAsync(kube, function, clock);
        lock (samples)
        {
            samples.Add(sample);
        }
    }));
    inFlight.RemoveAll(t => t.IsCompleted);
}

await Task.WhenAll(inFlight).WaitAsync(TimeSpan.FromSeconds(60));
var elapsed = clock.Elapsed.TotalSeconds;
await sampler;

// Convergence: one last resync, then the Images of the live workloads must be exactly the expected ones.
var finalResync = await function.ResyncAsync();
var check = await Convergence.CheckAsync(kube, ns, pool);
var exitCode = await function.TerminateAsync();
await kube.SendAsync(HttpMethod.Delete, $"/api/v1/namespaces/{ns}", null);

var report = Report.Write(options, samples, rss, resyncs, elapsed, finalResync, check, exitCode);
Console.WriteLine(report);
if (options.Results is { } path)
{
    await File.WriteAllTextAsync(path, report);
    Console.WriteLine($"soak: wrote {path}");
}

return samples.Count(s => !s.Ok) == 0 && check.Ok && exitCode == 0 && resyncs.All(r => r.Result == "completed") ? 0 : 1;
