using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace Cachier.Bench;

/// <summary>Renders bench/RESULTS.md from bench/out/results/*.json, the BenchmarkDotNet report and the machine.</summary>
public static class Report
{
    public static void Write(string outDir, string output)
    {
        var results = Path.Combine(outDir, "results");
        var steady = ResultFiles.Read<SteadyResult>(results, "steady");
        var calls = ResultFiles.Read<CallsResult>(results, "calls");
        var cold = ResultFiles.Read<ColdResult>(results, "cold");
        var memory = ResultFiles.Read<MemoryResult>(results, "memory");
        var memo = ResultFiles.Read<MemoSize>(results, "memo");
        var backfill = ResultFiles.Read<BackfillResult>(results, "backfill");
        var auth = ResultFiles.Read<AuthResult>(results, "auth");
        var targets = Bench.Targets.Evaluate(steady, calls, cold, memory, memo, backfill, auth);
        var md = new StringBuilder();

        md.AppendLine("# Cachier benchmark results").AppendLine();
        md.AppendLine("Written by `bench/run.sh` (one command; see `bench/README.md`). Every figure below comes from the same run.").AppendLine();
        Machine(md, results);
        Targets(md, targets);
        Steady(md, steady);
        Calls(md, calls);
        Cold(md, cold);
        Memory(md, memory, memo);
        Backfill(md, backfill);
        Auth(md, auth);
        Sections(md, results);
        Planner(md, outDir);
        Analysis.Write(md, targets, steady, calls, cold, memory, memo, backfill, auth, PlannerMeans(outDir), ReadLines(Path.Combine(results, "sections.tsv")).ToList(), CodeByAssembly(results));
        Timings(md, results);
        File.WriteAllText(output, md.ToString());
    }

    private static void Machine(StringBuilder md, string results)
    {
        var cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown";
        var memKiB = long.Parse(File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemTotal", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
        md.AppendLine("## Machine and run").AppendLine();
        md.AppendLine("| | |").AppendLine("|---|---|");
        md.AppendLine($"| Report written (UTC) | {DateTime.UtcNow:yyyy-MM-dd HH:mm:ss} |");
        md.AppendLine($"| nproc | {Environment.ProcessorCount} |");
        md.AppendLine($"| Memory | {memKiB / 1024.0 / 1024.0:0.0} GiB ({memKiB:N0} KiB MemTotal) |");
        md.AppendLine($"| CPU model | {cpu} |");
        md.AppendLine($"| Kernel | {RuntimeInformation.OSDescription} |");
        md.AppendLine($"| .NET | {RuntimeInformation.FrameworkDescription} |");
        foreach (var line in ReadLines(Path.Combine(results, "machine.txt")))
        {
            var parts = line.Split('\t', 2);
            if (parts.Length == 2)
            {
                md.AppendLine($"| {parts[0]} | {parts[1]} |");
            }
        }

        md.AppendLine();
        md.AppendLine("Everything runs on this one machine over loopback: etcd, kube-apiserver v1.20.2 and kube-controller-manager (`scripts/local-cluster.sh`),");
        md.AppendLine("the function, the load generator (`bench/Cachier.Bench`, JIT, Workstation GC) and, on a shared machine, whatever else is running.");
        md.AppendLine("The load average is recorded next to the throughput figures: with 2 cores, anything else running moves them.");
        md.AppendLine("Cachier runs as shipped in every measurement: the GC and the thread pool's spin limit (15) its project builds with (row \"GC\" above, function/Cachier.csproj), `DOTNET_EnableDiagnostics=0` and `DOTNET_GCgen0size=400000` as in the Dockerfile,");
        md.AppendLine("`SSL_CERT_FILE` = the cluster CA (standing in for the ServiceAccount's `ca.crt`) and `SSL_CERT_DIR=/nonexistent` as in `knative/service.yaml`;");
        md.AppendLine("each diagnostic row changes one of these settings.").AppendLine();
    }

    /// <summary>The heading of a numbered section; "_not measured_" under it, and false, when its result is missing.</summary>
    private static bool Section<T>(StringBuilder md, string heading, [NotNullWhen(true)] T? result)
        where T : class
    {
        md.AppendLine("## " + heading).AppendLine();
        if (result is null)
        {
            md.AppendLine("_not measured_").AppendLine();
            return false;
        }

        return true;
    }

    private static void Targets(StringBuilder md, IReadOnlyList<TargetRow> targets)
    {
        md.AppendLine("## Targets (issues 7 and 16) at a glance").AppendLine();
        md.AppendLine("| Target | Measured | Ratio / margin | Met? |").AppendLine("|---|---|---|---|");
        foreach (var t in targets)
        {
            md.AppendLine($"| {t.Target} | {t.Measured} | {t.Margin} | {Met(t.Met)} |");
        }

        md.AppendLine();
    }

    private static void Steady(StringBuilder md, SteadyResult? r)
    {
        if (!Section(md, "1. Steady-state throughput and latency", r))
        {
            return;
        }

        md.AppendLine($"Status-only update events, Reference mode (`dev.knative.apiserver.ref.update`, binary mode) for {r.Workloads} Deployments whose {r.ImagesPerWorkload} Images each are already in place,");
        md.AppendLine("sent round-robin through the **published Native AOT function** (`" + Path.GetFileName(r.Function) + "`, HTTP/1.1 keep-alive on loopback). Each costs Cachier one GET (memo hit).");
        md.AppendLine("The **raw client** makes that same GET of the same Deployments directly against the API server over HTTPS with the same ServiceAccount token");
        md.AppendLine("(HTTP/1.1 keep-alive pool, like Cachier's client), reading the whole body. Per side and concurrency: " +
            $"{r.WarmupPerSide} warm-up requests, then {r.RequestsPerSide:N0} measured requests in 10 blocks, interleaved with the other side's as raw, function, function, raw, raw, function, ...");
        md.AppendLine("The rows after the first two are diagnostics, compared with the raw client in the same interleaved way: the same binary with one setting changed (a fresh process each), " +
            $"and, in the shipped process, {Cachier.Bench.Steady.NoCall} (the second hop without the GET); the two forwarder rows are not Cachier but the floor of its design, " +
            "a bare AOT forwarder with Cachier's runtime settings that receives the same event, makes the same GET with the same kind of client and answers 200.");
        md.AppendLine("CPU per event comes from `/proc/PID/stat` (10 ms ticks, summed over the blocks); the API server's includes every other client it served meanwhile (n/a: it was restarted).");
        md.AppendLine($"Load average before/after: {r.LoadAverageBefore:0.00} / {r.LoadAverageAfter:0.00}.").AppendLine();
        md.AppendLine("| Measurement | Side | Requests | Errors | Events/s | p50 ms | p99 ms | mean ms | Function/raw | CPU per event (API server: all its clients) | Function RSS after |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var row in r.SingleWorkload is null ? r.Rows : [.. r.Rows, r.SingleWorkload])
        {
            md.AppendLine($"| {row.Name} | raw client | {row.Raw.Requests:N0} | {row.Raw.Errors} | {row.Raw.EventsPerSecond:0.#} | {row.Raw.P50Ms:0.###} | {row.Raw.P99Ms:0.###} | {row.Raw.MeanMs:0.###} | | API server {Us(row.ApiServerCpuUsPerRawCall)} | |");
            var side = row.Variant == Cachier.Bench.Steady.Forwarder ? "forwarder AOT" : "Cachier AOT";
            md.AppendLine($"| {row.Name} | {side} | {row.Function.Requests:N0} | {row.Function.Errors} | {row.Function.EventsPerSecond:0.#} | {row.Function.P50Ms:0.###} | {row.Function.P99Ms:0.###} | {row.Function.MeanMs:0.###} | **{row.Ratio:0.00}** | function {row.FunctionCpuUsPerEvent:0} µs, API server {Us(row.ApiServerCpuUsPerFunctionEvent)} | {(row.FunctionRssMiB is { } rss ? $"{rss:0.0} MiB" : "")} |");
        }

        md.AppendLine();
        md.AppendLine($"Audit-log cross-check: the function's identity made **{r.FunctionCallsAudited}** API calls for the {r.FunctionEventsAudited:N0} function events sent during these measurements (warm-ups included) - one GET per event, no LIST, no write.");
        if (r.SingleWorkload is { } single)
        {
            md.AppendLine();
            var c1 = r.Rows.FirstOrDefault(x => !x.Diagnostic && x.Concurrency == 1);
            var c8 = r.Rows.FirstOrDefault(x => !x.Diagnostic && x.Concurrency == 8);
            md.AppendLine($"The last row sends all events for ONE Deployment at concurrency 8: Cachier serialises reconciles of the same workload (keyed lock, SPEC 5), so it reaches {single.Function.EventsPerSecond:0} events/s = {single.Ratio:0.00} x raw " +
                $"(c=1: {c1?.Function.EventsPerSecond:0}/s; c=8 over {r.Workloads} workloads: {c8?.Function.EventsPerSecond:0}/s). ApiServerSource delivers the events of one object one after the other anyway; the rows above spread the load over {r.Workloads} workloads, as a cluster does. Not a target row.");
        }

        md.AppendLine();
    }

    private static void Calls(StringBuilder md, CallsResult? r)
    {
        if (!Section(md, "2. API calls per event (counted by the API server)", r))
        {
            return;
        }

        md.AppendLine($"Counted in the kube-apiserver audit log (`/tmp/cachier-cluster/logs/audit.log`, stage ResponseComplete) for the function's own identity **`{r.FunctionUser}`**");
        md.AppendLine("(a ServiceAccount bound to the ClusterRole `cachier` of `knative/service.yaml`, with a token from `kubectl create token`), between the start of each scenario and a unique admin marker request sent after the function answered.");
        md.AppendLine("Workloads are Deployments with c containers of distinct images; Resource mode events carry the object as the API server returned it.").AppendLine();
        md.AppendLine("| Scenario | Mode | API calls | Verbs | Target | Met? | Cachier's answer | Note |");
        md.AppendLine("|---|---|---|---|---|---|---|---|");
        foreach (var s in r.Scenarios)
        {
            md.AppendLine($"| {s.Name} | {s.Mode} | **{s.Calls}** | {s.Verbs} | {s.Target} | {(s.Met is { } m ? Met(m) : "-")} | {Escape(s.Outcome)} | {Escape(s.Note)} |");
        }

        md.AppendLine();
        md.AppendLine("<details><summary>Every request, as the audit log has it</summary>").AppendLine();
        foreach (var s in r.Scenarios)
        {
            md.AppendLine($"- **{s.Name} ({s.Mode})**: {(s.Requests.Count == 0 ? "no request" : "")}");
            foreach (var request in s.Requests)
            {
                md.AppendLine($"  - `{request}`");
            }
        }

        md.AppendLine().AppendLine("</details>").AppendLine();
        var change = r.Scenarios.Where(s => s.Name.StartsWith("image changed", StringComparison.Ordinal)).ToList();
        if (change.Count > 0)
        {
            md.AppendLine("**Image change.** The changed Image costs exactly what it must: one create (new image) and one delete (old image); the unchanged");
            md.AppendLine("Images are not written. The created Image carries the new `generation` label, and the stale guard only reads the largest label");
            md.AppendLine("among a workload's Images; a pass that only deletes relabels one remaining Image (`ImageReconciler`).").AppendLine();
        }
    }

    private static void Cold(StringBuilder md, ColdResult? r)
    {
        if (!Section(md, "3. Cold start", r))
        {
            return;
        }

        md.AppendLine("From just before the process is started to the 200 answer of the first event. The event (a `ref.add` of a fresh Deployment with one image, so that");
        md.AppendLine("it really creates an Image: GET + LIST + POST, with the TLS handshake to the API server) is sent in a loop, 1 ms apart, until the port answers.");
        md.AppendLine("The bare echo (`bench/Cachier.Bench.Echo`: slim builder, Native AOT, POST / echoes the body with 200) gets the same event. Variants take turns");
        md.AppendLine($"within each run; one warm-up run first (discarded). \"Listening\" = time to the attempt that connected; \"first request\" = that attempt's duration.").AppendLine();
        md.AppendLine("| Variant | Command | Runs | Median ms | Min ms | Max ms | Median listening ms | Median first request ms | Runs that created Images |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|");
        foreach (var v in r.Variants)
        {
            md.AppendLine($"| {v.Variant} | `{Escape(Shorten(v.Command))}` | {v.Runs} | **{v.MedianMs:0.0}** | {v.MinMs:0.0} | {v.MaxMs:0.0} | {v.MedianListenMs:0.0} | {v.MedianFirstRequestMs:0.0} | {(v.Command.Contains("echo", StringComparison.Ordinal) ? "-" : v.RunsThatCreatedImages.ToString(CultureInfo.InvariantCulture))} |");
        }

        md.AppendLine();
        md.AppendLine("Every run: " + string.Join("; ", r.Variants.Select(v => $"{v.Variant}: " + string.Join(", ", r.Runs.Where(x => x.Variant == v.Variant).Select(x => x.StartToFirst200Ms.ToString("0", CultureInfo.InvariantCulture))))) + " (ms).").AppendLine();
    }

    private static void Backfill(StringBuilder md, BackfillResult? r)
    {
        if (r is null)
        {
            return;
        }

        md.AppendLine("## Backfill at the API server's pace (issue 16)").AppendLine();
        md.AppendLine($"{r.Workloads:N0} Deployments x {r.ImagesPerWorkload} images with no Images yet, backfilled by the **first `POST /resync`** of the published AOT function, side by side with a **raw client**");
        md.AppendLine($"that creates the same number of Images of the same shape (labels, controller ownerReference to a real Deployment, `spec.image`) with the same ServiceAccount token.");
        md.AppendLine($"\"Same parallelism\" means the same number of writes in flight: the raw client keeps {r.Parallelism} POSTs in flight (8 workers, each POSTing the next Image as soon as its last one is answered);");
        md.AppendLine($"the function runs with `ResyncParallelism` = {r.Parallelism}, its bound on the writes the resync has in flight. The raw client runs before and after the resync (its Images deleted after its first run, so the resyncs' LIST of Images does not read them too);");
        md.AppendLine("its rate is the mean of the two. The resync's time is the `POST /resync` wall time, so it includes its LISTs (every kind, and the Images); the raw side's Deployments are in a");
        md.AppendLine("namespace the function excludes (`Cachier__ExcludedNamespaces`), so the resync leaves them out of its LISTs (`fieldSelector=metadata.namespace!=...`) and writes nothing for them.");
        md.AppendLine("Calls come from the API server's audit log. The function writes its Kubernetes Events (one note per workload it created Images for) after the resync, not during it;");
        md.AppendLine($"the bench waits for them before the next side runs: {Escape(r.NotesAfter ?? "not measured")}.").AppendLine();
        md.AppendLine("| Side | Images created | Seconds | Images/s | API calls | Verbs | Errors / failed | Note |").AppendLine("|---|---|---|---|---|---|---|---|");
        foreach (var side in r.Raw.Append(r.First).Append(r.Second))
        {
            md.AppendLine($"| {side.Name} | {side.Images:N0} | {side.Seconds:0.00} | {side.ImagesPerSecond:0} | {side.Calls:N0} | {side.Verbs} | {side.Errors} | {Escape(side.Note ?? "")}{(side.ServerMs is { } ms ? $" (function's own duration {ms:0} ms)" : "")} |");
        }

        md.AppendLine();
        md.AppendLine($"First resync / raw client: **{r.Ratio:0.00} x** (target 0.90). Images found in the function's namespace after it: {r.ImagesFound:N0} of {r.Workloads * r.ImagesPerWorkload:N0}.").AppendLine();
    }

    private static void Auth(StringBuilder md, AuthResult? r)
    {
        if (r is null)
        {
            return;
        }

        md.AppendLine("## Sender authentication on vs off (issue 16)").AppendLine();
        md.AppendLine($"The same AOT binary with `Cachier__Authentication__Mode=None` (off, as in every other section) and with sender authentication on: a Kubernetes ServiceAccount token of `{r.Sender}`");
        md.AppendLine($"for audience `{r.Audience}` (`kubectl create token`), `Cachier__Authentication__AllowedSubjects__0` = that subject, the issuer discovered from the API server (as `knative/` configures it).");
        md.AppendLine("Every event carries the token as `Authorization: Bearer`; with authentication off the same header is sent and ignored, so the bytes on the wire are the same. Off and on take turns in one run.").AppendLine();
        md.AppendLine("| Measurement | Off | On | On vs off |").AppendLine("|---|---|---|---|");
        foreach (var row in r.Rows)
        {
            md.AppendLine($"| {row.Name} | {row.Off:0.#} {row.Unit} | {row.On:0.#} {row.Unit} | {row.Worse:+0.0;-0.0} % worse (target <= 5 %) |");
        }

        md.AppendLine();
    }

    private static void Memory(StringBuilder md, MemoryResult? r, MemoSize? memo)
    {
        if (!Section(md, "4. Memory", r))
        {
            return;
        }

        md.AppendLine($"VmRSS from `/proc/PID/status` of the published AOT function: idle 2 s after it answered readiness; after one `ref.add` per workload for {r.Workloads} Deployments");
        md.AppendLine($"({r.ImagesPerWorkload} images each); after {r.EventsPerPhase:N0} status-only `ref.update` events round-robin over them at concurrency {r.Concurrency}; after {r.EventsPerPhase:N0} more; 3 s later.").AppendLine();
        md.AppendLine("| Variant | Stage | VmRSS MiB | VmHWM MiB | RssAnon MiB | RssFile MiB | Events | Errors | Seconds |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|");
        foreach (var v in r.Variants)
        {
            foreach (var s in v.Samples)
            {
                md.AppendLine($"| {v.Environment} | {s.Stage} | **{s.VmRssMiB:0.0}** | {s.VmHwmMiB:0.0} | {s.RssAnonMiB:0.0} | {s.RssFileMiB:0.0} | {s.Events:N0} | {s.Errors} | {s.Seconds:0.0} |");
            }
        }

        if (r.Echo is { } echo)
        {
            md.AppendLine($"| bare AOT echo (for scale) | {echo.Stage} | **{echo.VmRssMiB:0.0}** | {echo.VmHwmMiB:0.0} | {echo.RssAnonMiB:0.0} | {echo.RssFileMiB:0.0} | {echo.Events} | 0 | - |");
        }

        md.AppendLine();
        if (memo is not null)
        {
            md.AppendLine($"**Memo bound.** `PlanMemo` holds at most `Cachier:MemoCapacity` = {memo.Capacity:N0} workloads (LRU). Measured retained size: {memo.BytesPerEntry:0} bytes per entry");
            md.AppendLine($"({memo.Method}), so at most **{memo.BoundMiB:0.0} MiB** at capacity. In this run the memo holds {r.Workloads} entries (~{r.Workloads * memo.BytesPerEntry / 1024:0} KiB).").AppendLine();
        }
    }

    private static void Sections(StringBuilder md, string results)
    {
        var lines = ReadLines(Path.Combine(results, "sections.tsv")).ToList();
        if (lines.Count == 0)
        {
            return;
        }

        md.AppendLine("**Where the binaries' bytes are** (`size -A`, MiB; `.hydrated` is built in memory at start-up from `.rodata`, so it costs start-up time and anonymous RSS):").AppendLine();
        md.AppendLine("| Binary | File | .hydrated | .rodata | __managedcode | .text | .data + .bss |").AppendLine("|---|---|---|---|---|---|---|");
        foreach (var line in lines)
        {
            var parts = line.Split('\t');
            var f = parts.Skip(1).Select(p => p.Split('=')).Where(p => p.Length == 2).ToDictionary(p => p[0], p => long.Parse(p[1], CultureInfo.InvariantCulture) / 1048576.0);
            double F(string k) => f.GetValueOrDefault(k);
            md.AppendLine($"| `{parts[0]}` | {F("file"):0.0} | {F(".hydrated"):0.0} | {F(".rodata"):0.0} | {F("__managedcode"):0.0} | {F(".text"):0.0} | {F(".data") + F(".bss"):0.0} |");
        }

        md.AppendLine();
        var code = CodeByAssembly(results);
        if (code.Count > 0)
        {
            md.AppendLine("Native code of `publish/cachier` by assembly (symbol sizes from `cachier.dbg`; `S_P_CoreLib` = System.Private.CoreLib): " +
                string.Join(", ", code.Select(c => $"{c.Name} {c.Bytes / 1048576.0:0.00} MiB")) + ".").AppendLine();
        }
    }

    internal static List<(string Name, long Bytes)> CodeByAssembly(string results) =>
        [.. ReadLines(Path.Combine(results, "code-by-assembly.tsv")).Select(l => l.Split('\t')).Where(p => p.Length == 2)
            .Select(p => (p[1], long.Parse(p[0], CultureInfo.InvariantCulture)))];

    /// <summary>Mean time (ns) per (method, containers) from BenchmarkDotNet's brief JSON export.</summary>
    private static Dictionary<(string Method, int Containers), (double MeanNs, long AllocatedBytes)> PlannerMeans(string outDir)
    {
        var means = new Dictionary<(string, int), (double, long)>();
        var dir = Path.Combine(outDir, "bdn", "results");
        if (!Directory.Exists(dir))
        {
            return means;
        }

        foreach (var file in Directory.GetFiles(dir, "*-report-brief.json"))
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(file));
            foreach (var b in doc.RootElement.GetProperty("Benchmarks").EnumerateArray())
            {
                var parameters = b.GetProperty("Parameters").GetString() ?? "";
                if (!int.TryParse(parameters.Split('=').Last(), CultureInfo.InvariantCulture, out var containers)
                    || !b.TryGetProperty("Statistics", out var stats) || stats.ValueKind != JsonValueKind.Object)
                {
                    continue;
                }

                var allocated = b.TryGetProperty("Memory", out var m) && m.TryGetProperty("BytesAllocatedPerOperation", out var a) ? a.GetInt64() : 0;
                means[(b.GetProperty("Method").GetString()!, containers)] = (stats.GetProperty("Mean").GetDouble(), allocated);
            }
        }

        return means;
    }

    private static void Planner(StringBuilder md, string outDir)
    {
        var report = Directory.Exists(Path.Combine(outDir, "bdn", "results"))
            ? Directory.GetFiles(Path.Combine(outDir, "bdn", "results"), "*-report-github.md").OrderBy(f => f, StringComparer.Ordinal).ToList()
            : [];
        if (!Section(md, "5. Planner micro-benchmarks (BenchmarkDotNet)", report.Count > 0 ? report : null))
        {
            return;
        }

        md.AppendLine("`bench/Cachier.Bench.Planner` compiles the function's pure sources (`function/Domain/*.cs`: the reader, the planner and the memo)");
        md.AppendLine("and measures them with BenchmarkDotNet 0.15.8, ShortRun job (1 launch, 3 warm-ups, 3 iterations), in-process, MemoryDiagnoser (Allocated = bytes per operation),");
        md.AppendLine("for a Deployment with N containers of distinct images (plus a service account and a pull secret):");
        md.AppendLine("`Read` = `WorkloadReader.Read` of the parsed JSON; `ParseAndRead` = `JsonDocument.Parse` + `Read` of the same bytes; `Plan` = `ImagePlanner.Plan`;");
        md.AppendLine("`Fingerprint` = `PlanMemo.Fingerprint` of the plan (run on every event); `EventPath` = parse + read + plan + fingerprint (the CPU work of a status-only event between HTTP and the memo).").AppendLine();
        foreach (var file in report)
        {
            md.AppendLine(File.ReadAllText(file).Trim()).AppendLine();
        }
    }

    private static void Timings(StringBuilder md, string results)
    {
        var lines = ReadLines(Path.Combine(results, "timings.tsv")).ToList();
        if (lines.Count == 0)
        {
            return;
        }

        md.AppendLine("## Run time of bench/run.sh").AppendLine();
        md.AppendLine("| Stage | Seconds |").AppendLine("|---|---|");
        foreach (var parts in lines.Select(l => l.Split('\t')).Where(p => p.Length == 2))
        {
            md.AppendLine($"| {parts[0]} | {parts[1]} |");
        }

        md.AppendLine();
    }

    internal static IEnumerable<string> ReadLines(string path) => File.Exists(path) ? File.ReadLines(path) : [];

    private static string Met(bool met) => met ? "yes" : "**no**";

    private static string Us(double? us) => us is { } v ? $"{v:0} µs" : "n/a";

    private static string Escape(string text) => text.Replace("|", "\\|", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);

    private static string Shorten(string command) =>
        command.Replace(Environment.CurrentDirectory + "/", "", StringComparison.Ordinal);

    public static string Json<T>(T value) => JsonSerializer.Serialize(value, ResultFiles.Options);
}
