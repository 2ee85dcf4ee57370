using System.Diagnostics;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Cachier.Bench;

/// <summary>
/// Backfill at the API server's pace (issue 16): the first <c>POST /resync</c> over N two-image Deployments that have
/// no Images yet, side by side with a raw client that creates the same number of Images, of the same shape (labels,
/// controller ownerReference, spec.image), with the same token and the same number of writes in flight. Order: raw,
/// resync, raw again (its first run's Images deleted before the resync), so both sides see the same machine; then a second resync with
/// nothing to do, whose calls come from the audit log. The raw side's Deployments sit in a namespace the function
/// excludes (<c>Cachier__ExcludedNamespaces</c>), so the resync leaves them out of its LISTs (a field selector) and writes
/// nothing for them. The function writes its Kubernetes Events about the resync's work after the resync: the bench waits
/// until every note is accounted for (written, dropped or failed, from its metrics) before the next side runs.
/// </summary>
public static class Backfill
{
    private const int ImagesPerWorkload = 2;

    public static async Task RunAsync(BenchEnv env, int workloads, int parallelism)
    {
        var fnNs = env.Namespace("backfill");
        var rawNs = env.Namespace("backfill-raw");
        using var cluster = new Cluster(env);
        await cluster.EnsureNamespaceAsync(fnNs);
        await cluster.EnsureNamespaceAsync(rawNs);
        var names = Enumerable.Range(0, workloads).Select(i => $"bf-{i}").ToArray();
        foreach (var ns in new[] { fnNs, rawNs })
        {
            await cluster.CreateDeploymentsAsync(ns, names.Select(n => (n, (IReadOnlyList<string>)[.. Enumerable.Range(0, ImagesPerWorkload).Select(c => Cluster.Image(n, c))])), 8);
        }

        var uids = await UidsAsync(cluster, rawNs);
        var bodies = names.SelectMany(n => Enumerable.Range(0, ImagesPerWorkload).Select(c => RawImage(rawNs, n, uids[n], c))).ToArray();

        using var raw = Http.ApiClient(env, env.FunctionToken, "cachier-bench-raw/1.0");
        var rawRuns = new List<BackfillSide>();
        rawRuns.Add(await RawAsync(raw, rawNs, bodies, parallelism, "raw client, before the resync"));
        // Before the resyncs, not after them: their LIST of Images would otherwise read the raw side's 2,000 too (the API
        // server filters a LIST after reading it, and the raw namespace's keys sort first), a cost of this side-by-side set-up.
        await cluster.DeleteImagesAsync(rawNs);

        var port = Ports.Free();
        var environment = env.FunctionEnvironment(port);
        environment["Cachier__ExcludedNamespaces__0"] = rawNs;
        environment["Cachier__ResyncParallelism"] = parallelism.ToString(System.Globalization.CultureInfo.InvariantCulture);
        // The request must last as long as the run: no early 202 "running" answer.
        environment["Cachier__ResyncAnswerWithin"] = "00:10:00";
        using var local = new HttpClient { Timeout = TimeSpan.FromMinutes(10) };
        await using var function = FunctionProcess.Start(env.AotBinary, [], environment, port, Path.Combine(env.LogsDir, "backfill.log"));
        await function.WaitReadyAsync(local, TimeSpan.FromSeconds(30));

        using var audit = new AuditLog(env.AuditLog);
        var notesBefore = await NotesAsync(local, function);
        var first = await ResyncAsync(env, cluster, audit, local, function, fnNs, "first resync (backfill)");
        var notes = await NotesAfterAsync(local, function, notesBefore, workloads);
        var images = (await cluster.ImagesAsync(fnNs)).Count;
        var second = await ResyncAsync(env, cluster, audit, local, function, fnNs, "second resync (nothing to do)");

        rawRuns.Add(await RawAsync(raw, rawNs, bodies, parallelism, "raw client, after the resync"));

        var rawRate = rawRuns.Average(r => r.ImagesPerSecond);
        ResultFiles.Write(env, "backfill", new BackfillResult(workloads, ImagesPerWorkload, parallelism, rawRuns, first, second, images,
            Math.Round(first.ImagesPerSecond / rawRate, 2), notes));
        Console.Error.WriteLine($"backfill: resync {first.ImagesPerSecond:0}/s vs raw {rawRate:0}/s = {first.ImagesPerSecond / rawRate:0.00} x; second resync {second.Calls} calls ({second.Verbs})");
        await cluster.DeleteNamespaceAsync(fnNs);
        await cluster.DeleteNamespaceAsync(rawNs);
    }

    /// <summary>The function's Kubernetes Event notes so far, by result (cachier_kubernetes_events_total).</summary>
    private static async Task<Dictionary<string, double>> NotesAsync(HttpClient local, FunctionProcess function)
    {
        return (await Http.MetricsAsync(local, function.Url)).Where(m => m.Series.StartsWith("cachier_kubernetes_events_total{", StringComparison.Ordinal))
            .GroupBy(m => m.Series.Split("result=\"")[1].Split('"')[0]).ToDictionary(g => g.Key, g => g.Sum(m => m.Value));
    }

    /// <summary>
    /// Waits (bounded) until the resync's notes, one per workload whose Images it created, are written, dropped or failed,
    /// so that their writes do not fall into the next side's time; says how they went.
    /// </summary>
    private static async Task<string> NotesAfterAsync(HttpClient local, FunctionProcess function, Dictionary<string, double> before, int expected)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var now = await NotesAsync(local, function);
            var delta = now.ToDictionary(kv => kv.Key, kv => kv.Value - before.GetValueOrDefault(kv.Key));
            var total = delta.Values.Sum();
            if (total >= expected || clock.Elapsed > TimeSpan.FromMinutes(2))
            {
                var by = string.Join(", ", delta.Where(kv => kv.Value > 0).OrderBy(kv => kv.Key).Select(kv => $"{kv.Key} {kv.Value:0}"));
                return $"{total:0} of {expected} notes accounted for {clock.Elapsed.TotalSeconds:0.0} s after the resync answered ({by})";
            }

            // Polling the function's metrics; the 2-minute bound above ends the wait.
            await Task.Delay(100);
        }
    }

    private static async Task<BackfillSide> RawAsync(HttpClient raw, string ns, string[] bodies, int parallelism, string name)
    {
        var block = await Load.RunAsync(bodies.Length, parallelism, async i =>
        {
            using var response = await raw.PostAsync($"/apis/caching.internal.knative.dev/v1alpha1/namespaces/{ns}/images", Http.Json(bodies[i]));
            _ = await response.Content.ReadAsByteArrayAsync();
            return (response.StatusCode == HttpStatusCode.Created, $"{(int)response.StatusCode}");
        });
        Console.Error.WriteLine($"backfill: {name}: {block.Requests} creates in {block.Seconds:0.00} s ({block.Errors} errors)");
        return new BackfillSide(name, block.Requests - block.Errors, Math.Round(block.Seconds, 3), Math.Round((block.Requests - block.Errors) / block.Seconds, 1),
            block.Requests, $"create {block.Requests}", block.Errors, block.FirstError);
    }

    private static async Task<BackfillSide> ResyncAsync(BenchEnv env, Cluster cluster, AuditLog audit, HttpClient local, FunctionProcess function, string ns, string name)
    {
        audit.Start();
        var clock = Stopwatch.StartNew();
        using var response = await local.PostAsync(new Uri(function.Url, "/resync"), null);
        var body = await response.Content.ReadAsStringAsync();
        clock.Stop();
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw new InvalidOperationException($"POST /resync answered {(int)response.StatusCode}: {body}");
        }

        var marker = await cluster.AuditMarkerAsync(ns);
        // Kubernetes Events about the first resync's creates are written in the background and may still arrive.
        var (entries, _) = AuditSummary.WithoutEventWrites(await audit.CollectAsync(env.FunctionUser, marker, TimeSpan.FromSeconds(60)));
        var summary = JsonNode.Parse(body)!;
        var created = summary["created"]?.GetValue<int>() ?? 0;
        var seconds = clock.Elapsed.TotalSeconds;
        Console.Error.WriteLine($"backfill: {name}: created {created} in {seconds:0.00} s; {entries.Count} calls ({AuditSummary.Verbs(entries)})");
        return new BackfillSide(name, created, Math.Round(seconds, 3), Math.Round(created / seconds, 1), entries.Count, AuditSummary.Verbs(entries),
            summary["failed"]?.GetValue<int>() ?? 0, summary["result"]?.GetValue<string>(), Math.Round(summary["durationMs"]?.GetValue<double>() ?? 0, 1));
    }

    private static async Task<Dictionary<string, string>> UidsAsync(Cluster cluster, string ns)
    {
        using var doc = JsonDocument.Parse(await cluster.GetJsonAsync($"/apis/apps/v1/namespaces/{ns}/deployments"));
        return doc.RootElement.GetProperty("items").EnumerateArray().ToDictionary(
            d => d.GetProperty("metadata").GetProperty("name").GetString()!, d => d.GetProperty("metadata").GetProperty("uid").GetString()!);
    }

    /// <summary>An Image as Cachier writes it for container <paramref name="c"/> of a Deployment (ImageResources.Build).</summary>
    private static string RawImage(string ns, string workload, string uid, int c) => new JsonObject
    {
        ["apiVersion"] = "caching.internal.knative.dev/v1alpha1",
        ["kind"] = "Image",
        ["metadata"] = new JsonObject
        {
            ["name"] = $"{workload}-raw-{c}",
            ["namespace"] = ns,
            ["labels"] = new JsonObject { ["controller"] = uid, ["generation"] = "00001", ["app.kubernetes.io/managed-by"] = "cachier-bench" },
            ["ownerReferences"] = new JsonArray(new JsonObject
            {
                ["apiVersion"] = "apps/v1",
                ["kind"] = "Deployment",
                ["name"] = workload,
                ["uid"] = uid,
                ["controller"] = true,
                ["blockOwnerDeletion"] = true,
            }),
        },
        ["spec"] = new JsonObject { ["image"] = Cluster.Image(workload, c) },
    }.ToJsonString();
}
