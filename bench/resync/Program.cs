using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json.Nodes;
using Cachier.Bench.Resync;

// Resync benchmark (SPEC section 7) on the local API server. See bench/resync/run.sh.
// Options: --workloads N (10000) --namespaces N (20) --kubeconfig PATH (admin) --audit-log PATH --results PATH --function PATH (cachier.dll)
var options = args.Select((a, i) => (a, i)).Where(x => x.a.StartsWith("--", StringComparison.Ordinal) && x.i + 1 < args.Length)
    .ToDictionary(x => x.a[2..], x => args[x.i + 1]);
string Option(string name, string fallback) => options.GetValueOrDefault(name) ?? fallback;
var workloads = int.Parse(Option("workloads", "10000"), CultureInfo.InvariantCulture);
var namespaceCount = int.Parse(Option("namespaces", "20"), CultureInfo.InvariantCulture);
var kubeconfig = Option("kubeconfig", "/tmp/cachier-cluster/kubeconfig");
var auditPath = Option("audit-log", "/tmp/cachier-cluster/logs/audit.log");
var resultsPath = Option("results", Path.Combine(Environment.CurrentDirectory, "RESULTS.md"));
var functionDll = Option("function", Path.Combine(AppContext.BaseDirectory, "cachier.dll"));
if (workloads % namespaceCount != 0 || !File.Exists(auditPath) || !File.Exists(functionDll))
{
    Console.Error.WriteLine($"need --workloads divisible by --namespaces, the audit log ({auditPath}) and the function ({functionDll})");
    return 2;
}

var work = Directory.CreateTempSubdirectory("cachier-bench-resync-").FullName;
var admin = new Kubectl(kubeconfig, workingDirectory: Environment.CurrentDirectory);
var cluster = new BenchCluster(admin);
var clock = Stopwatch.StartNew();
void Say(string message) => Console.Error.WriteLine($"[{clock.Elapsed.TotalSeconds,7:0.0} s] {message}");

using var audit = new AuditPhases(auditPath, BenchCluster.Identity, BenchCluster.NamespacePrefix);
var phases = new List<(string Name, JsonObject Summary, TimeSpan Wall)>();
var checks = new List<string>();
FunctionProcess? function = null;
using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(30) };
try
{
    await cluster.WaitForApiServerAsync(TimeSpan.FromMinutes(5));
    await cluster.RemoveLeftoversAsync();
    var identity = await cluster.CreateIdentityAsync(work);
    List<FleetMember> fleet;
    for (var attempt = 1; ; attempt++)
    {
        try
        {
            fleet = await cluster.CreateFleetAsync(namespaceCount, workloads / namespaceCount);
            break;
        }
        catch (InvalidOperationException e) when (attempt < 3)
        {
            Say($"creating the fleet failed, starting over: {e.Message.Split('\n')[0]}");
            await cluster.RemoveAsync(Namespaces());
        }
    }

    Say($"created {fleet.Count} workloads in {namespaceCount} namespaces (one kubectl create of a List per namespace)");

    // The controller-manager makes a ReplicaSet per Deployment at its own rate limit: measure once they are all listed.
    // (It never falls quiet: on 1.20 it rewrites every CronJob's status every 10 s, suspended or not.)
    var expectedReplicaSets = fleet.Count(m => m.Kind is "Deployment" or "ReplicaSet");
    int replicaSets;
    while ((replicaSets = await CountReplicaSetsAsync()) < expectedReplicaSets)
    {
        // Several 1,000s of ReplicaSets at the controller-manager's 20 requests/s: minutes, not seconds.
        Say($"waiting for the controller-manager: {replicaSets} of {expectedReplicaSets} ReplicaSets");
        if (clock.Elapsed > TimeSpan.FromMinutes(20))
        {
            throw new TimeoutException("the controller-manager did not make the Deployments' ReplicaSets within 20 minutes");
        }

        await Task.Delay(TimeSpan.FromSeconds(5));
        audit.ReadNew();
    }

    async Task<int> CountReplicaSetsAsync()
    {
        await cluster.WaitForApiServerAsync(TimeSpan.FromMinutes(5));
        return await cluster.CountAsync("replicasets.apps");
    }

    var expected = fleet.Sum(m => m.ExpectedImages());
    Say($"{replicaSets} ReplicaSets in the bench's namespaces; the planner expects {expected} Images");

    // Other clients' resyncs (tests sharing the cluster) may have cached some meanwhile: start phase (a) from none.
    await cluster.DeleteAllImagesAsync();
    var others = await cluster.OtherNamespacesAsync();
    var settings = new Dictionary<string, string>
    {
        ["Cachier__Kubeconfig"] = identity,
        ["Cachier__Resources"] = BenchCluster.Resources,
        ["Cachier__LogFormat"] = "simple",
        // The bench POSTs /resync without a sender token.
        ["Cachier__Authentication__Mode"] = "None",
        ["Cachier__ResyncMinInterval"] = "00:00:00",
    };
    foreach (var (ns, i) in others.Select((ns, i) => (ns, i)))
    {
        settings[$"Cachier__ExcludedNamespaces__{i}"] = ns;
    }

    var port = Ports.Free();
    settings["PORT"] = port.ToString(CultureInfo.InvariantCulture);
    var running = FunctionProcess.Start("dotnet", [functionDll], settings, port, Path.Combine(work, "function.log"), Path.GetDirectoryName(functionDll));
    function = running;
    await running.WaitReadyAsync(http, TimeSpan.FromSeconds(60));
    Say($"function started ({functionDll}); {others.Length} other namespaces excluded; log {Path.Combine(work, "function.log")}");

    async Task PhaseAsync(string name)
    {
        await audit.MarkAsync(admin, name);
        var (summary, wall) = await ResyncAsync(running.Url);
        phases.Add((name, summary, wall));
        if ((string?)summary["result"] != "completed")
        {
            checks.Add($"({name}) the resync was {summary["result"]}: {summary["failures"]?.ToJsonString()}");
        }

        Say($"resync {name}: {summary.ToJsonString()}");
    }

    await PhaseAsync("a");
    var images = await cluster.ImagesAsync();
    checks.Add($"(a) created {Int(phases[^1].Summary, "created")} Images; the bench's namespaces hold {images.Count}; the planner expects {expected}");

    await PhaseAsync("b");

    await audit.MarkAsync(admin, "drift");
    var dropped = await cluster.DeleteImagesAsync(images, every: 10);
    Say($"deleted {dropped} of {images.Count} Images by hand");
    await PhaseAsync("c");
    var repaired = await cluster.ImagesAsync();
    checks.Add($"(c) {dropped} Images deleted by hand, {Int(phases[^1].Summary, "created")} created by the resync; the bench's namespaces hold {repaired.Count}");

    await audit.MarkAsync(admin, "end");
    foreach (var (phase, writes) in audit.OthersImageWrites.Where(w => w.Key != "drift"))
    {
        checks.Add($"other clients wrote {writes} Images in the bench's namespaces during ({phase}): a shared cluster; that phase's figures include the races");
    }

    if (audit.Calls.GetValueOrDefault("drift") is { Count: > 0 } stray)
    {
        checks.Add($"the function made {stray.Values.Sum()} calls between resyncs (expected none)");
    }

    if (audit.Unattributed > 0)
    {
        checks.Add($"{audit.Unattributed} calls of the function's identity before the first marker");
    }

    var report = Report(replicaSets - fleet.Count(m => m.Kind == "ReplicaSet"), expected);
    Console.WriteLine(report);
    await File.WriteAllTextAsync(resultsPath, report);
    Say($"written {resultsPath}");
}
finally
{
    if (function is not null)
    {
        await function.DisposeAsync();
    }

    Say("removing the bench's namespaces");
    await cluster.RemoveAsync(Namespaces());
    await cluster.DeleteIdentityAsync();
    Say("cleaned up");
}

return 0;

// POST /resync; the summary and the time the request took.
async Task<(JsonObject Summary, TimeSpan Wall)> ResyncAsync(Uri url)
{
    var wall = Stopwatch.StartNew();
    using var response = await http.PostAsync(new Uri(url, "resync"), null);
    var body = await response.Content.ReadAsStringAsync();
    wall.Stop();
    return response.StatusCode == System.Net.HttpStatusCode.OK
        ? (JsonNode.Parse(body)!.AsObject(), wall.Elapsed)
        : throw new InvalidOperationException($"POST /resync answered {(int)response.StatusCode}: {body}");
}

string[] Namespaces() => Enumerable.Range(0, namespaceCount).Select(n => $"{BenchCluster.NamespacePrefix}{n:D2}").ToArray();

string Report(int madeByController, int expected)
{
    var md = new StringBuilder();
    var memory = File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemTotal:", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
    var cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "?";
    md.AppendLine("# Resync benchmark").AppendLine();
    md.AppendLine(CultureInfo.InvariantCulture, $"- Date: {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
    md.AppendLine(CultureInfo.InvariantCulture, $"- Machine: {Environment.ProcessorCount} CPUs (`nproc`), {long.Parse(memory, CultureInfo.InvariantCulture) / 1024.0 / 1024.0:0.0} GiB memory, {cpu}, {RuntimeInformation.OSDescription}");
    md.AppendLine(CultureInfo.InvariantCulture, $"- Everything on that machine: etcd, kube-apiserver v1.20.2 and kube-controller-manager (scripts/local-cluster.sh), the function ({RuntimeInformation.FrameworkDescription}, JIT build of function/ in Release, default settings: ResyncParallelism 8, ResyncPageSize 500)");
    md.AppendLine(CultureInfo.InvariantCulture, $"- Fleet: {workloads:N0} workloads in {namespaceCount} namespaces (per 100: 30 Deployments, 20 StatefulSets, 15 DaemonSets, 15 Jobs, 15 CronJobs batch/v1beta1, 5 controlled ReplicaSets; 1 in 10 opted out; replicas 0), {expected:N0} Images planned; plus the {madeByController:N0} ReplicaSets the controller-manager made for the Deployments (listed, not cached)");
    md.AppendLine("- Other namespaces of the cluster excluded (Cachier__ExcludedNamespaces): their workloads are listed, not reconciled, so every write is the bench's");
    md.AppendLine(CultureInfo.InvariantCulture, $"- API calls: lines of the API server's audit log with `user.username` = `{BenchCluster.Identity}` (the function's own ServiceAccount token) and `stage` = `ResponseComplete`, between markers sent before and after each resync");
    md.AppendLine("- Workloads/s = workloads the resync listed (its summary's `workloads`) / the resync's duration (its summary's `durationMs`); API calls/workload = API calls / workloads listed").AppendLine();
    md.AppendLine("| Phase | Workloads listed | Created / updated / deleted | Duration (s) | Workloads/s | API calls | API calls / workload | Calls by verb |");
    md.AppendLine("|---|---:|---:|---:|---:|---:|---:|---|");
    var titles = new Dictionary<string, string>
    {
        ["a"] = "(a) first resync: creates every Image",
        ["b"] = "(b) second resync: no drift",
        ["c"] = "(c) resync after 10% of the Images were deleted",
    };
    foreach (var (name, summary, wall) in phases)
    {
        var listed = Int(summary, "workloads");
        var seconds = (double)summary["durationMs"]! / 1000;
        var calls = audit.Calls.GetValueOrDefault(name) ?? [];
        var total = calls.Values.Sum();
        md.AppendLine(CultureInfo.InvariantCulture,
            $"| {titles[name]} | {listed:N0} | {Int(summary, "created"):N0} / {Int(summary, "updated"):N0} / {Int(summary, "deleted"):N0} | {seconds:0.00} | {listed / seconds:N0} | {total:N0} | {(double)total / listed:0.000} | {string.Join(", ", calls.Select(c => $"{c.Key} {c.Value:N0}"))} |");
    }

    md.AppendLine().AppendLine("Checks:").AppendLine();
    foreach (var check in checks)
    {
        md.AppendLine(CultureInfo.InvariantCulture, $"- {check}");
    }

    return md.ToString();
}

static int Int(JsonObject summary, string name) => (int)summary[name]!;
