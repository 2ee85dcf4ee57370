using System.Text.Json;

namespace Cachier.Bench;

/// <summary>
/// API calls per event, per scenario, counted from the API server's audit log: only requests made with the
/// function's own ServiceAccount token, between the start of the scenario and a unique admin marker request.
/// </summary>
public static class Calls
{
    public static async Task RunAsync(BenchEnv env)
    {
        var ns = env.Namespace("calls");
        using var cluster = new Cluster(env);
        await cluster.EnsureNamespaceAsync(ns);
        using var audit = new AuditLog(env.AuditLog);
        using var local = Http.LocalClient();
        var logPath = Path.Combine(env.LogsDir, "calls-function.log");

        var port = Ports.Free();
        var function = FunctionProcess.Start(env.AotBinary, [], env.FunctionEnvironment(port), port, logPath);
        try
        {
            await function.WaitReadyAsync(local, TimeSpan.FromSeconds(30));
            await RunScenariosAsync();
        }
        finally
        {
            await function.DisposeAsync();
        }

        async Task RunScenariosAsync()
        {
            var scenarios = new List<CallScenario>();

            async Task<CallScenario> MeasureAsync(string name, string mode, Func<HttpRequestMessage> build, string target, int? max, string note = "")
            {
                using var request = build();
                var ev = request.Headers.GetValues("ce-type").Single();
                audit.Start();
                using var response = await local.SendAsync(request);
                var body = await response.Content.ReadAsStringAsync();
                var marker = await cluster.AuditMarkerAsync(ns);
                var (entries, eventWrites) = AuditSummary.WithoutEventWrites(await audit.CollectAsync(env.FunctionUser, marker, TimeSpan.FromSeconds(30)));
                note = eventWrites == 0 ? note : $"{note}{(note.Length > 0 ? "; " : "")}plus {eventWrites} Kubernetes Event write(s), not counted";
                var scenario = new CallScenario(name, mode, ev, entries.Count, AuditSummary.Verbs(entries),
                    entries.Select(e => $"{e.Verb.ToUpperInvariant()} {e.RequestUri} -> {e.Code}").ToList(),
                    target, max, max is { } m ? entries.Count <= m : null, $"{(int)response.StatusCode} {Outcome(body)}",
                    response.IsSuccessStatusCode ? note : $"NOT VALID: Cachier answered {(int)response.StatusCode} (was the API server restarted meanwhile?); {note}");
                Console.Error.WriteLine($"calls: {name}: {scenario.Calls} ({scenario.Verbs}) -> {scenario.Outcome}");
                scenarios.Add(scenario);
                return scenario;
            }

            HttpRequestMessage Ref(string verb, string name) => Events.RefDeployment(function.Url, verb, ns, name);
            async Task<Func<HttpRequestMessage>> ResourceAsync(string verb, string name)
            {
                var json = await cluster.GetDeploymentJsonAsync(ns, name);
                return () => Events.Resource(function.Url, verb, "apps/v1", "Deployment", ns, name, json);
            }

            // New workloads with c distinct images (Reference mode: GET + LIST + c creates).
            foreach (var c in new[] { 1, 3, 10 })
            {
                var name = $"new-c{c}";
                await cluster.CreateDeploymentAsync(ns, name, [.. Enumerable.Range(0, c).Select(i => Cluster.Image(name, i))]);
                await MeasureAsync($"new workload, c={c}", "Reference", () => Ref("add", name), $"<= 2 + c = {2 + c}", 2 + c);
            }

            {
                const int c = 3;
                var name = "new-res-c3";
                await cluster.CreateDeploymentAsync(ns, name, [.. Enumerable.Range(0, c).Select(i => Cluster.Image(name, i))]);
                await MeasureAsync($"new workload, c={c}", "Resource", await ResourceAsync("add", name), $"<= 2 + c = {2 + c}", 2 + c,
                    "the carried object is read again (not trusted as shipped)");
            }

            // Status-only updates of a workload whose Images are in place (memo warm).
            await MeasureAsync("status-only update", "Reference", () => Ref("update", "new-c3"), "<= 1", 1);
            // Resource mode: the object an event carries is a claim, read again with a GET unless the operator trusts embedded
            // objects (TrustEmbeddedObjects, which needs sender authentication; SPEC 6): as shipped, the same calls as Reference mode.
            await MeasureAsync("status-only update", "Resource", await ResourceAsync("update", "new-c3"), "<= 1 (GET: the carried object is a claim)", 1);

            // Image changed: one of three containers gets a new image (generation 1 -> 2).
            foreach (var mode in new[] { "Reference", "Resource" })
            {
                var name = $"change-{mode.ToLowerInvariant()}";
                await cluster.CreateDeploymentAsync(ns, name, [.. Enumerable.Range(0, 3).Select(i => Cluster.Image(name, i))]);
                await Steady.SendAsync(local, Ref("add", name), expectReconciled: true);
                await cluster.SetImageAsync(ns, name, "c1", Cluster.Image(name, 1).Replace(":1.0", ":2.0", StringComparison.Ordinal));
                var build = mode == "Reference" ? () => Ref("update", name) : await ResourceAsync("update", name);
                var s = await MeasureAsync("image changed (1 of 3)", mode, build,
                    "writes only the changed Image: 1 create + 1 delete (+ GET + LIST)",
                    4,
                    "the 2 unchanged Images are not rewritten: the created one carries the new generation, which is all the stale guard reads");
                var images = await cluster.ImagesAsync(ns, await cluster.UidAsync(ns, name));
                scenarios[^1] = s with { Note = $"{s.Note}; Images after: {images.Count}, generation labels {string.Join("/", images.Select(i => i.Generation).Distinct())}" };
            }

            // Opt-out: decorate=false on a workload with 3 Images -> GET + LIST + 3 deletes.
            {
                var name = "opt-out";
                await cluster.CreateDeploymentAsync(ns, name, [.. Enumerable.Range(0, 3).Select(i => Cluster.Image(name, i))]);
                await Steady.SendAsync(local, Ref("add", name), expectReconciled: true);
                await cluster.AnnotateAsync(ns, name, "cachier.mattmoor.io/decorate", "false");
                await MeasureAsync("opt-out (decorate=false, 3 Images)", "Reference", () => Ref("update", name), "<= 2 + c = 5 (GET + LIST + c deletes)", 5);
            }

            await MeasureAsync("delete event", "Reference", () => Ref("delete", "new-c1"), "0", 0, "garbage collection removes the Images");

            await cluster.CreateSecretAsync(ns, "not-a-workload");
            await MeasureAsync("unconfigured kind (Secret)", "Reference",
                () => Events.Ref(function.Url, "update", "v1", "Secret", ns, "not-a-workload"), "0", 0, "never reads arbitrary objects");

            // A ReplicaSet controlled by its Deployment (ApiServerSource sends these too): not cached by default.
            if (await cluster.WaitForReplicaSetAsync(ns, "new-c1", TimeSpan.FromSeconds(20)) is { } rs)
            {
                await MeasureAsync("controlled ReplicaSet, first event", "Reference",
                    () => Events.Ref(function.Url, "update", "apps/v1", "ReplicaSet", ns, rs), "<= 2 (GET + LIST)", 2, "not cached: its Deployment is");
                await MeasureAsync("controlled ReplicaSet, again", "Reference",
                    () => Events.Ref(function.Url, "update", "apps/v1", "ReplicaSet", ns, rs), "<= 1", 1);
            }

            // A fresh process (scale from zero): the memo is empty, so a status-only update costs GET + LIST.
            await function.DisposeAsync();
            port = Ports.Free();
            function = FunctionProcess.Start(env.AotBinary, [], env.FunctionEnvironment(port), port, logPath);
            await function.WaitReadyAsync(local, TimeSpan.FromSeconds(30));
            await MeasureAsync("status-only update, first event after a restart (memo empty)", "Reference", () => Ref("update", "new-c3"),
                "<= GET + LIST = 2 (SPEC 5.7)", 2);
            await MeasureAsync("status-only update, first event after a restart (memo empty)", "Resource", await ResourceAsync("update", "new-res-c3"),
                "<= GET + LIST = 2", 2);

            ResultFiles.Write(env, "calls", new CallsResult(env.FunctionUser, scenarios));
            await cluster.DeleteNamespaceAsync(ns);
        }
    }

    /// <summary>"reconciled (created 3, updated 0, deleted 0, unchanged 0)" from Cachier's JSON answer.</summary>
    private static string Outcome(string body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (!doc.RootElement.TryGetProperty("outcome", out var o))
            {
                return body;
            }

            int N(string p) => o.TryGetProperty(p, out var v) ? v.GetInt32() : 0;
            var reason = o.TryGetProperty("reason", out var r) ? $": {r.GetString()}" : "";
            return $"{o.GetProperty("result").GetString()} (created {N("created")}, updated {N("updated")}, deleted {N("deleted")}, unchanged {N("unchanged")}){reason}";
        }
        catch (JsonException)
        {
            return body;
        }
    }
}
