using System.Globalization;
using System.Text;

namespace Cachier.Bench;

/// <summary>
/// "What stands in the way": for every target, by how much it was missed in this run and what the run's own
/// diagnostic measurements say the time or memory goes to. Every number here comes from this run.
/// </summary>
public static class Analysis
{
    public static void Write(StringBuilder md, IReadOnlyList<TargetRow> targets, SteadyResult? steady, CallsResult? calls, ColdResult? cold, MemoryResult? memory, MemoSize? memo,
        BackfillResult? backfill, AuthResult? auth,
        IReadOnlyDictionary<(string Method, int Containers), (double MeanNs, long AllocatedBytes)> planner, IReadOnlyList<string> sections,
        IReadOnlyList<(string Name, long Bytes)> code)
    {
        md.AppendLine("## What stands in the way (targets missed in this run)").AppendLine();
        var missed = targets.Where(t => !t.Met).ToList();
        if (missed.Count == 0)
        {
            md.AppendLine($"Every target was met in this run ({targets.Count} target rows above).").AppendLine();
            return;
        }

        // Each area's paragraph gives one sentence per missed row of that area, from this run's diagnostics.
        var explained = new HashSet<TargetArea>();
        bool Missed(TargetArea area) => missed.Any(t => t.Area == area);
        if (Missed(TargetArea.Steady) && SteadyState(md, steady, planner))
        {
            explained.Add(TargetArea.Steady);
        }

        if (Missed(TargetArea.Calls) && ImageChange(md, calls))
        {
            explained.Add(TargetArea.Calls);
        }

        if ((Missed(TargetArea.ColdWhole) || Missed(TargetArea.ColdListen) || Missed(TargetArea.ColdFirst)) && ColdStart(md, cold, sections, code))
        {
            explained.UnionWith([TargetArea.ColdWhole, TargetArea.ColdListen, TargetArea.ColdFirst]);
        }

        if ((Missed(TargetArea.IdleRss) || Missed(TargetArea.RssGrowth)) && Memory(md, memory, memo, steady))
        {
            explained.UnionWith([TargetArea.IdleRss, TargetArea.RssGrowth]);
        }

        if ((Missed(TargetArea.BackfillFirst) || Missed(TargetArea.BackfillSecond)) && Backfill(md, backfill))
        {
            explained.UnionWith([TargetArea.BackfillFirst, TargetArea.BackfillSecond]);
        }

        if (Missed(TargetArea.Auth) && Auth(md, auth, steady, cold))
        {
            explained.Add(TargetArea.Auth);
        }

        // A missed row no paragraph above covers still gets its own sentence.
        var rest = missed.Where(t => !explained.Contains(t.Area)).ToList();
        if (rest.Count > 0)
        {
            md.AppendLine("### Other missed targets").AppendLine();
            foreach (var t in rest)
            {
                md.AppendLine($"- **{t.Target}**: {t.Measured}, {t.Margin}; this run has no diagnostic that breaks it down.");
            }

            md.AppendLine();
        }
    }

    private static bool SteadyState(StringBuilder md, SteadyResult? steady, IReadOnlyDictionary<(string Method, int Containers), (double MeanNs, long AllocatedBytes)> planner)
    {
        if (steady is null)
        {
            return false;
        }

        var target = Targets.SteadyRatio;
        var missed = steady.Rows.Where(r => !r.Diagnostic && r.Ratio < target).ToList();
        if (missed.Count == 0)
        {
            return false;
        }

        md.AppendLine("### Steady-state throughput").AppendLine();
        foreach (var row in missed)
        {
            var needed = target * row.Raw.EventsPerSecond;
            var logOffRow = steady.Rows.FirstOrDefault(r => r.Diagnostic && r.Concurrency == row.Concurrency && r.Variant == Steady.LogOff);
            md.AppendLine($"- **{row.Name}: {row.Ratio:0.00} x raw, target {target:0.00}** - missed by {(target - row.Ratio) / target:P0} " +
                $"({row.Function.EventsPerSecond:0} events/s where {needed:0} were needed; p50 {row.Function.P50Ms:0.00} ms vs raw {row.Raw.P50Ms:0.00} ms; function CPU {row.FunctionCpuUsPerEvent:0} µs per event)" +
                (logOffRow is null ? "." : $"; with the per-event log line off the same binary reached {logOffRow.Ratio:0.00} x raw ({logOffRow.FunctionCpuUsPerEvent:0} µs per event), so the line costs {row.FunctionCpuUsPerEvent - logOffRow.FunctionCpuUsPerEvent:+0;-0} µs of it."));
        }

        var c8 = steady.Rows.FirstOrDefault(r => !r.Diagnostic && r.Concurrency == 8);
        var eventPath = planner.TryGetValue(("EventPath", 1), out var ep) ? ep.MeanNs / 1000 : (double?)null;
        md.AppendLine();
        md.AppendLine("What the time goes to. The raw client's event is one HTTPS GET. Cachier's event is that same GET plus a second hop and the work around it:");
        md.AppendLine("Kestrel receives the CloudEvent, the CloudEvents SDK binds it, the GET's answer is parsed (JsonDocument), read, planned and fingerprinted,");
        md.AppendLine("one log line is written, three metrics are recorded and a JSON answer is serialised. On this 2-core machine the API server, etcd, the function");
        md.AppendLine("and the load generator share the cores, so at concurrency 8 throughput is CPU-bound: every CPU microsecond Cachier spends per event is taken from the API server.");
        if (c8 is not null)
        {
            md.AppendLine($"Measured at c=8: Cachier spends **{c8.FunctionCpuUsPerEvent:0} µs of CPU per event** (from `/proc/PID/stat`), the API server {Us(c8.ApiServerCpuUsPerRawCall)} per raw GET" +
                $" (its CPU includes every other client of this shared API server)." +
                (eventPath is { } e ? $" The pure planner path (parse + read + plan + fingerprint, section 5, 1 container) is only {e:0.0} µs of that: the cost is in the GET's path and the HTTP work around it, not in the planner (split below)." : ""));
        }

        var diagnostics = steady.Rows.Where(r => r.Diagnostic).ToList();
        if (c8 is not null && diagnostics.Count > 0)
        {
            md.AppendLine();
            md.AppendLine("Same run: the same binary with one setting changed, and the bare forwarder described below (each row is compared with a raw client measured in the same A-B-B-A blocks; CPU compared with as shipped at the same concurrency):").AppendLine();
            md.AppendLine("| Variant | Function/raw | Function CPU per event | Change in CPU per event vs as shipped |").AppendLine("|---|---|---|---|");
            foreach (var shippedRow in steady.Rows.Where(r => !r.Diagnostic))
            {
                md.AppendLine($"| as shipped, {shippedRow.Name} | {shippedRow.Ratio:0.00} | {shippedRow.FunctionCpuUsPerEvent:0} µs | - |");
            }

            foreach (var d in diagnostics)
            {
                var same = steady.Rows.FirstOrDefault(r => !r.Diagnostic && r.Concurrency == d.Concurrency) ?? c8;
                md.AppendLine($"| {d.Name} | {d.Ratio:0.00} | {d.FunctionCpuUsPerEvent:0} µs | {d.FunctionCpuUsPerEvent - same.FunctionCpuUsPerEvent:+0;-0} µs |");
            }

            md.AppendLine();
        }

        // The floor of the design: a bare forwarder that receives the event and makes its GET, nothing else.
        var floors = diagnostics.Where(d => d.Variant == Steady.Forwarder).ToList();
        if (floors.Count > 0)
        {
            var pairs = floors.Select(f => (Floor: f, Cachier: steady.Rows.FirstOrDefault(r => !r.Diagnostic && r.Concurrency == f.Concurrency)))
                .Where(p => p.Cachier is not null).ToList();
            md.AppendLine("The floor of a second hop. A bare AOT forwarder (`bench/Cachier.Bench.Forward`: Kestrel and one HttpClient, Cachier's runtime settings; " +
                "it receives the same event, makes the same GET and answers 200, with no binding, parse, plan, lock, memo, log line or metric) reached " +
                string.Join(" and ", floors.Select(f => $"**{f.Ratio:0.00} x raw at c={f.Concurrency}** ({f.FunctionCpuUsPerEvent:0} µs of CPU per event)")) + " in this run; Cachier reached " +
                string.Join(" and ", pairs.Select(p => $"{p.Cachier!.Ratio / p.Floor.Ratio:0.00} of the forwarder's rate at c={p.Floor.Concurrency}")) + ". " +
                (floors.All(f => f.Ratio < target)
                    ? $"The forwarder itself misses {target:0.0} x raw: on this machine the second hop alone (one more process, two more loopback exchanges and their thread-pool hand-offs, on 2 cores shared with the API server, etcd and the load generator) costs more than the target leaves, so no function that must GET the object meets it here, whatever it does around the GET."
                    : $"The forwarder reaches {target:0.0} x raw at least once, so Cachier's own work around the GET is what stands in the way there."));
            md.AppendLine();
        }

        // The c=1 row, and the diagnostic row of an event without an API call that splits its latency and CPU.
        var c1 = missed.FirstOrDefault(r => r.Concurrency == 1);
        var hop = diagnostics.FirstOrDefault(d => d.Variant == Steady.NoCall);
        if (c1 is not null)
        {
            var added = c1.Function.MeanMs - c1.Raw.MeanMs;
            var allowed = c1.Raw.MeanMs * (1 / target - 1);
            md.AppendLine($"At concurrency 1 the rate is 1 / latency: Cachier adds {added:0.00} ms (mean; p50 {c1.Function.P50Ms - c1.Raw.P50Ms:0.00} ms) to a {c1.Raw.MeanMs:0.00} ms GET. {target:0.0} x raw allows at most " +
                $"{allowed:0.00} ms added, so it is missed by {added - allowed:0.00} ms per event.");
            // Mean latencies at c=1, split in the same process: the event without its GET, the GET as the function times it, the rest.
            if (hop is not null)
            {
                md.AppendLine($"Split in the same process at c=1: an event that makes no API call (diagnostic row, a kind Cachier does not watch) takes {hop.Function.MeanMs:0.00} ms: " +
                    $"the second hop and the work around every event (Kestrel, binding, parsing, the log line, the answer; {hop.FunctionCpuUsPerEvent:0} µs of CPU against {c1.FunctionCpuUsPerEvent:0} µs with the GET).");
            }

            if (c1.FunctionGetMeanMs is { } get)
            {
                var budget = c1.Raw.MeanMs / target;
                md.AppendLine($"The GET itself, timed inside the function by its own metric `cachier.api.request.duration` (send to answer read), averages {get:0.00} ms against the raw client's " +
                    $"{c1.Raw.MeanMs:0.00} ms for its whole round trip: the same call, made from a process that shares the 2 cores with the API server and the load generator. " +
                    $"At {target:0.0} x raw a whole event may take {budget:0.00} ms, and the GET alone takes {get / budget:P0} of that." +
                    (hop is null ? "" : $" What is left, {c1.Function.MeanMs - hop.Function.MeanMs - get:0.00} ms, is Cachier's work around the GET: the workload's lock, the request's set-up, the answer's parse and plan, the memo and the thread-pool hand-offs."));
            }

            md.AppendLine();
        }

        var logOff = diagnostics.FirstOrDefault(d => d.Concurrency == 8 && d.Variant == Steady.LogOff);
        md.AppendLine(floors.Count > 0 && floors.All(f => f.Ratio < target)
            ? "What would close the gap: not Cachier's own work, since the bare forwarder, which does none of it, misses the target too (above). " +
              "Every event crosses two more loopback connections and wakes one more process than the raw client's GET, on 2 cores that also run the API server, " +
              "etcd and the load generator; in a cluster the API server and etcd run on other machines, which this bench cannot show. Within Cachier's process:"
            : "What would close the gap: fewer CPU microseconds and less latency per event in Cachier's own process.");
        md.AppendLine($"The planner is not where they go{(eventPath is { } e2 ? $" ({e2:0.0} µs)" : "")}" +
            (hop is not null && c1 is not null
                ? $"; nor the edge: an event without an API call costs {hop.FunctionCpuUsPerEvent:0} µs of CPU, one with its GET {c1.FunctionCpuUsPerEvent:0} µs, so most of it is the GET's path in the function (the request, TLS, the answer's parse, and the thread pool's hand-offs and spinning while it waits)."
                : "; the HTTP and JSON work around it, logging and metrics are.") +
            (logOff is not null && c8 is not null
                ? $" In this run turning the per-event log line off changed the CPU per event at c=8 by {logOff.FunctionCpuUsPerEvent - c8.FunctionCpuUsPerEvent:+0;-0} µs (its diagnostic row);" +
                  " measure any other candidate the same way (one setting or one change per row) before changing the code."
                : ""));
        md.AppendLine("On this shared 2-core machine the ratio moves by several hundredths between runs (see the load average); a miss by a few per cent is within that noise.");
        md.AppendLine();
        return true;
    }

    private static bool ImageChange(StringBuilder md, CallsResult? calls)
    {
        var change = calls?.Scenarios.Where(s => s.Name.StartsWith("image changed", StringComparison.Ordinal)).ToList() ?? [];
        var missed = change.Where(s => s.Met == false).ToList();
        var statusOnly = calls?.Scenarios.Where(s => s.Met == false && !s.Name.StartsWith("image changed", StringComparison.Ordinal)).ToList() ?? [];
        if (missed.Count == 0 && statusOnly.Count == 0)
        {
            return false;
        }

        md.AppendLine("### API calls").AppendLine();
        foreach (var s in statusOnly)
        {
            md.AppendLine($"- **{s.Name} ({s.Mode})**: {s.Calls} calls ({s.Verbs}), target {s.Target}.");
        }

        foreach (var s in missed)
        {
            md.AppendLine($"- **{s.Name} ({s.Mode})**: {s.Calls} calls ({s.Verbs}); the target allows {s.TargetMax} - missed by {s.Calls - s.TargetMax} call(s).");
        }

        return true;
    }

    private static bool ColdStart(StringBuilder md, ColdResult? cold, IReadOnlyList<string> sections, IReadOnlyList<(string Name, long Bytes)> code)
    {
        var echo = Targets.Echo(cold);
        var aot = Targets.Aot(cold);
        if (echo is null || aot is null)
        {
            return false;
        }

        var limit = 2 * echo.MedianMs;
        var floor = Targets.Floor(cold);
        var listenLimit = Targets.ListenRatio * echo.MedianListenMs;
        md.AppendLine("### Cold start").AppendLine();
        if (aot.MedianMs > limit)
        {
            md.AppendLine($"- **Cachier AOT {aot.MedianMs:0.0} ms vs bare AOT echo {echo.MedianMs:0.0} ms = {aot.MedianMs / echo.MedianMs:0.00} x; target 2 x ({limit:0.0} ms)** - missed by {aot.MedianMs - limit:0.0} ms " +
                "(medians; Cachier with the shipped runtime settings, see \"Machine and run\").");
        }

        md.AppendLine((aot.MedianListenMs > listenLimit
                ? $"- **Time until the port answers: Cachier {aot.MedianListenMs:0.0} ms vs echo {echo.MedianListenMs:0.0} ms = {aot.MedianListenMs / echo.MedianListenMs:0.00} x; target {Targets.ListenRatio:0.0} x ({listenLimit:0.0} ms)** - missed by {aot.MedianListenMs - listenLimit:0.0} ms. "
                : $"- Start-up to listening: Cachier {aot.MedianListenMs:0.0} ms vs echo {echo.MedianListenMs:0.0} ms ({aot.MedianListenMs - echo.MedianListenMs:+0.0;-0.0} ms; within its target). ") +
            "That difference is Cachier's own start-up, which the echo does not have. Measured apart from this bench (perf with `cachier.dbg` symbols, " +
            "strace, on the published binary): options binding and validation take about 2 ms; the runtime's start of a larger binary rebuilds 5.5 MiB " +
            "of `.hydrated` data against the echo's 2.2 MiB (below), about 15 ms before `Main`; the rest is the framework's own start (the host's services, " +
            "generic types Native AOT builds at run time). The API server connection is made on another thread from `AddCachier` " +
            "on, and the port opens before the connection is awaited; Cachier's own services the start needs are made by factories, not by reflection. " +
            "On 2 cores that thread still shares the cores with the host's start: timestamps taken inside the process (a temporary build) put the " +
            "connection at 35-65 ms (OpenTelemetry's metrics pipeline, 20-25 ms more, is gone since 9bee139), half of it KubernetesClient reading this bench's kubeconfig " +
            "(YAML), half OpenSSL's first load for the cluster CA; in a pod the in-cluster configuration has no YAML to read.");
        var firstLimit = floor is null ? (double?)null : Targets.FirstEventRatio * floor.MedianMs;
        md.AppendLine((firstLimit is { } fl && aot.MedianFirstRequestMs > fl
                ? $"- **The first event's answer: Cachier {aot.MedianFirstRequestMs:0.0} ms vs the API floor {floor!.MedianMs:0.0} ms = {aot.MedianFirstRequestMs / floor.MedianMs:0.00} x; target {Targets.FirstEventRatio:0.0} x ({fl:0.0} ms)** - missed by {aot.MedianFirstRequestMs - fl:0.0} ms. It is "
                : $"- The first event: Cachier {aot.MedianFirstRequestMs:0.0} ms vs echo {echo.MedianFirstRequestMs:0.0} ms; it is ") +
            "a TLS handshake to the API server and GET + LIST + POST" +
            (floor is not null && aot.MedianFirstRequestMs > floor.MedianMs
                ? $"; the same calls from a warm process (the API floor below) take {floor.MedianMs:0.0} ms, so {aot.MedianFirstRequestMs - floor.MedianMs:0.0} ms of it is the fresh process. " +
                  "In this bench the connection is made only after the port answers (reading the kubeconfig and loading OpenSSL, above), so the first event " +
                  "waits for it, then for the TLS handshake the start-up check begins as soon as it is made; once the connection is there, the event's own " +
                  "GET + LIST + POST took about 15 ms in the same timestamped build. The machine-CA-bundle diagnostic row, which only changes the trust store, " +
                  "shows how much of the first handshake is OpenSSL setting up its trust."
                : "."));
        if (floor is not null)
        {
            md.AppendLine($"- The API calls themselves have a floor: a new TLS connection + GET + LIST + POST from the warm load generator takes **{floor.MedianMs:0.0} ms** (median). " +
                $"So no function can answer its first reconciled event sooner than its own start-up plus about that; echo start-up + floor = {echo.MedianMs + floor.MedianMs:0.0} ms " +
                (echo.MedianMs + floor.MedianMs <= limit ? $"fits under the {limit:0.0} ms limit, leaving {limit - echo.MedianMs - floor.MedianMs:0.0} ms for Cachier's own start-up and first-request work." : $"is already above the {limit:0.0} ms limit in this run: at this load, no function that makes these calls would meet the target."));
        }

        // The diagnostics undo one shipped setting each: what that setting is worth in this run.
        if (cold!.Variants.FirstOrDefault(v => v.Variant == Cold.MachineCaBundle && v.Runs > 0) is { } machineCa)
        {
            md.AppendLine("- Diagnostic, the machine's CA bundle (`SSL_CERT_FILE`/`SSL_CERT_DIR` at Debian's defaults, so .NET loads and parses `/etc/ssl/certs` on the first TLS handshake): " +
                Undone(machineCa, aot, "the `SSL_CERT_FILE`/`SSL_CERT_DIR` of `knative/service.yaml` keep it out of the shipped figures."));
        }

        if (cold.Variants.FirstOrDefault(v => v.Variant == Cold.OtherGc && v.Runs > 0) is { } otherGc)
        {
            md.AppendLine("- Diagnostic, Server GC (`DOTNET_gcServer=1`, `DOTNET_GCgen0size=0`; the Web SDK's default, a heap and a GC thread per core): " +
                Undone(otherGc, aot, "the shipped build uses Workstation GC with a 4 MiB gen0 budget (function/Cachier.csproj, Dockerfile)."));
        }

        var shipped = sections.FirstOrDefault(l => l.StartsWith("publish/", StringComparison.Ordinal));
        var echoSections = sections.FirstOrDefault(l => l.StartsWith("echo/", StringComparison.Ordinal));
        if (shipped is not null && echoSections is not null)
        {
            var largest = code.Where(c => !c.Name.StartsWith('(')).Take(3).Select(c => $"{c.Name} {c.Bytes / 1048576.0:0.0} MiB").ToList();
            md.AppendLine($"- Start-up: the AOT binary is {Mib(shipped, "file"):0.0} MiB with {Mib(shipped, ".hydrated"):0.0} MiB of `.hydrated` data that the runtime rebuilds at every start " +
                $"(echo: {Mib(echoSections, "file"):0.0} MiB, {Mib(echoSections, ".hydrated"):0.0} MiB)." +
                (largest.Count > 0 ? $" The largest contributors of native code: {string.Join(", ", largest)} (see \"Where the binaries' bytes are\")." : ""));
        }

        md.AppendLine();
        return true;
    }

    /// <summary>What a diagnostic cold-start variant costs against the shipped one, from the two medians.</summary>
    private static string Undone(ColdVariant variant, ColdVariant shipped, string kept)
    {
        var added = variant.MedianMs - shipped.MedianMs;
        var split = $"listening {variant.MedianListenMs - shipped.MedianListenMs:+0.0;-0.0} ms, first event {variant.MedianFirstRequestMs - shipped.MedianFirstRequestMs:+0.0;-0.0} ms";
        return added > 0
            ? $"cold start {variant.MedianMs:0.0} ms, so it would add **{added:0.0} ms** to the shipped {shipped.MedianMs:0.0} ms ({split}); {kept}"
            : $"cold start {variant.MedianMs:0.0} ms, no slower than the shipped {shipped.MedianMs:0.0} ms in this run ({added:+0.0;-0.0} ms; {split}); {kept}";
    }

    private static bool Memory(StringBuilder md, MemoryResult? memory, MemoSize? memo, SteadyResult? steady)
    {
        var shipped = memory?.Variants.FirstOrDefault(v => v.Name == "default");
        if (shipped is null || shipped.Samples.Count < 4)
        {
            return false;
        }

        var idle = shipped.Samples[0];
        var after = shipped.Samples[2];
        var later = shipped.Samples[3];
        var growth = after.VmRssMiB - idle.VmRssMiB;
        var idleMissed = idle.VmRssMiB > 40;
        var growthMissed = memo is not null && growth > memo.BoundMiB;
        if (!idleMissed && !growthMissed)
        {
            return false;
        }

        md.AppendLine("### Memory").AppendLine();
        if (idleMissed)
        {
            md.AppendLine($"- **Idle RSS {idle.VmRssMiB:0.0} MiB, target 40 MiB** - missed by {idle.VmRssMiB - 40:0.0} MiB ({idle.VmRssMiB / 40:0.00} x). " +
                $"Of it, {idle.RssFileMiB:0.0} MiB is file-backed (the mapped binary, which is almost wholly resident, and the shared libraries) and {idle.RssAnonMiB:0.0} MiB anonymous " +
                "(the rebuilt `.hydrated` data, GC heaps, thread stacks)." +
                (memory!.Echo is { } e ? $" The bare AOT echo idles at {e.VmRssMiB:0.0} MiB ({e.RssFileMiB:0.0} MiB file-backed, {e.RssAnonMiB:0.0} MiB anonymous)." : ""));
        }

        if (growthMissed)
        {
            md.AppendLine($"- **RSS grew {growth:0.0} MiB from idle to after {memory!.EventsPerPhase:N0} events; the memo's bound is {memo!.BoundMiB:0.0} MiB** - missed by {growth - memo.BoundMiB:0.0} MiB. " +
                $"It is not the memo (it holds {memory.Workloads} entries, ~{memory.Workloads * memo.BytesPerEntry / 1024:0} KiB here) and not a leak: the next {memory.EventsPerPhase:N0} events moved RSS by {later.VmRssMiB - after.VmRssMiB:+0.0;-0.0} MiB. " +
                $"It is the working set of a process that has served traffic (GC heap budget, thread-pool threads, Kestrel and HttpClient buffers, TLS state), reached within the first {memory.Workloads} events " +
                $"({shipped.Samples[1].VmRssMiB:0.0} MiB after them).");
        }

        // The other variants of this run (BENCH_MEMORY_GC), each one setting away from as shipped.
        foreach (var v in memory!.Variants.Where(v => v != shipped && v.Samples.Count >= 3))
        {
            md.AppendLine($"- {v.Environment}, same run: idle {v.Samples[0].VmRssMiB:0.0} MiB ({v.Samples[0].VmRssMiB - idle.VmRssMiB:+0.0;-0.0} MiB vs as shipped), " +
                $"after {memory.EventsPerPhase:N0} events {v.Samples[2].VmRssMiB:0.0} MiB ({v.Samples[2].VmRssMiB - after.VmRssMiB:+0.0;-0.0} MiB).");
        }

        var shippedRss = steady?.Rows.LastOrDefault(r => !r.Diagnostic)?.FunctionRssMiB;
        var otherRss = steady?.Rows.FirstOrDefault(r => r.Diagnostic && r.Variant == Steady.ServerGc)?.FunctionRssMiB;
        if (shippedRss is { } a && otherRss is { } sv)
        {
            md.AppendLine($"- After their steady-state measurements (section 1) the shipped process (Workstation GC) had {a:0.0} MiB and the Server GC one {sv:0.0} MiB ({sv - a:+0.0;-0.0} MiB).");
        }

        md.AppendLine();
        return true;
    }

    private static bool Backfill(StringBuilder md, BackfillResult? backfill)
    {
        if (backfill is null)
        {
            return false;
        }

        md.AppendLine("### Backfill").AppendLine();
        var raw = backfill.Raw.Average(r => r.ImagesPerSecond);
        if (backfill.Ratio < Targets.BackfillRatio)
        {
            var first = backfill.First;
            var images = backfill.Workloads * backfill.ImagesPerWorkload;
            var extra = first.Calls - first.Images;
            md.AppendLine($"- **First resync {first.ImagesPerSecond:0} Images/s vs the raw client's {raw:0}/s = {backfill.Ratio:0.00} x; target {Targets.BackfillRatio:0.00}** - " +
                $"missed by {(Targets.BackfillRatio * raw - first.ImagesPerSecond):0} Images/s ({first.Seconds:0.00} s for {first.Images:N0} of {images:N0} Images where {images / (Targets.BackfillRatio * raw):0.00} s were allowed). " +
                $"The run's own diagnostics: the resync made {first.Calls:N0} API calls ({first.Verbs}), {extra:+0;-0} beyond one per Image created, each LIST a round trip the raw client does not make" +
                (first.ServerMs is { } ms ? $"; the function timed its own run at {ms:0} ms of the {first.Seconds * 1000:0} ms wall time, so {first.Seconds * 1000 - ms:0} ms went to the request around it" : "") +
                $"; the second resync, which only LISTs the same cluster, took {backfill.Second.Seconds:0.00} s: that much of the first one's time (or of the API server's cores while it wrote) is listing, which the raw client does not do and the SPEC asks of every resync" +
                $"; the raw client's two passes ran at {string.Join(" and ", backfill.Raw.Select(r => $"{r.ImagesPerSecond:0}/s"))}, the spread this machine's load adds to the ratio" +
                (first.Errors > 0 ? $"; {first.Errors} of the resync's writes failed" : "") + ".");
        }

        if (Targets.SecondResyncWrites(backfill) > 0)
        {
            md.AppendLine($"- **Second resync wrote where nothing was to do**: {backfill.Second.Calls} calls ({backfill.Second.Verbs}); the target is LISTs only. " +
                $"The first resync left {backfill.ImagesFound:N0} of {backfill.Workloads * backfill.ImagesPerWorkload:N0} Images, so the second had {(backfill.Workloads * backfill.ImagesPerWorkload) - backfill.ImagesFound:N0} to repair.");
        }

        md.AppendLine();
        return true;
    }

    private static bool Auth(StringBuilder md, AuthResult? auth, SteadyResult? steady, ColdResult? cold)
    {
        var missed = auth?.Rows.Where(r => r.Worse > Targets.AuthWorsePercent).ToList() ?? [];
        if (missed.Count == 0)
        {
            return false;
        }

        md.AppendLine("### Sender authentication on vs off").AppendLine();
        foreach (var row in missed)
        {
            var cost = row.Unit == "events/s"
                ? $"{1e6 / row.On - 1e6 / row.Off:+0;-0} µs more per event (1 / rate) at that concurrency (a validated token's verdict is kept, so what remains per event is reading the header and a lookup by the token's bytes)"
                : row.Unit == "ms"
                    ? $"{row.On - row.Off:+0.0;-0.0} ms (with authentication on, the start also fetches the issuer's keys over the API connection" +
                      (Targets.Aot(cold) is { } aot ? $"; the shipped cold start of section 3 took {aot.MedianMs:0.0} ms in this run" : "") + ")"
                    : $"{row.On - row.Off:+0.0;-0.0} {row.Unit} (the issuer's keys and the verdict cache are held in memory)";
            var noise = row.Unit == "events/s" && steady?.Rows.Where(r => !r.Diagnostic).ToList() is { Count: > 0 } shipped
                ? $" For scale: section 1's shipped rows in this run reached {string.Join(", ", shipped.Select(r => $"{r.Ratio:0.00} x raw at {r.Name}"))}."
                : "";
            md.AppendLine($"- **{row.Name}: on {row.On:0.#} vs off {row.Off:0.#} {row.Unit}, {row.Worse:+0.0;-0.0} % worse; target <= {Targets.AuthWorsePercent:0} %** - missed by {row.Worse - Targets.AuthWorsePercent:0.0} points; the difference is {cost}.{noise}");
        }

        md.AppendLine();
        return true;
    }

    private static double Mib(string line, string key) =>
        line.Split('\t').Skip(1).Select(p => p.Split('=')).Where(p => p.Length == 2 && p[0] == key)
            .Select(p => long.Parse(p[1], CultureInfo.InvariantCulture) / 1048576.0).FirstOrDefault();

    private static string Us(double? us) => us is { } v ? $"{v:0} µs" : "n/a";
}
