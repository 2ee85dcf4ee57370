using System.Globalization;
using System.Text.Json;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Exporters;
using BenchmarkDotNet.Exporters.Json;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Cachier.Bench.Planner;
using Cachier.Domain;

// cachier-bench-planner bench --artifacts DIR     BenchmarkDotNet, ShortRun, in-process, MemoryDiagnoser
// cachier-bench-planner memo-size --output FILE   retained bytes per PlanMemo entry, and the bound at capacity
if (args.Length >= 1 && args[0] == "memo-size")
{
    MemoSize.Measure(args.Length >= 3 ? args[2] : "memo.json");
    return 0;
}

var artifacts = args.Length >= 3 && args[1] == "--artifacts" ? args[2] : Path.Combine(Environment.CurrentDirectory, "BenchmarkDotNet.Artifacts");

// In-process: no generated project to build (the bench stays within its time budget and away from function/obj).
var config = ManualConfig.CreateEmpty()
    .AddColumnProvider(DefaultConfig.Instance.GetColumnProviders().ToArray())
    .AddLogger(DefaultConfig.Instance.GetLoggers().ToArray())
    .AddJob(Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance))
    .AddDiagnoser(MemoryDiagnoser.Default)
    .AddExporter(MarkdownExporter.GitHub, JsonExporter.Brief)
    .WithArtifactsPath(artifacts)
    .WithOptions(ConfigOptions.DisableLogFile);
var summary = BenchmarkRunner.Run<PlannerBenchmarks>(config);
return summary.HasCriticalValidationErrors || summary.Reports.Any(r => !r.Success) ? 1 : 0;

namespace Cachier.Bench.Planner
{
    /// <summary>Retained size of the memo: fill it, force a full collection, divide.</summary>
    public static class MemoSize
    {
        public const int Capacity = 50_000; // CachierOptions.MemoCapacity default

        public static void Measure(string output)
        {
            const int entries = Capacity;
            var before = GC.GetTotalMemory(forceFullCollection: true);
            var memo = new PlanMemo(Capacity, TimeSpan.FromMinutes(5), TimeProvider.System);
            for (var i = 0; i < entries; i++)
            {
                // A uid as the API server writes it: a fresh 36-character string per event, kept by the memo.
                memo.Remember(Guid.NewGuid().ToString(), new UInt128((ulong)i, (ulong)i * 31));
            }

            var after = GC.GetTotalMemory(forceFullCollection: true);
            GC.KeepAlive(memo);
            var perEntry = (after - before) / (double)entries;
            var json = JsonSerializer.Serialize(new
            {
                entries,
                bytesPerEntry = Math.Round(perEntry, 1),
                capacity = Capacity,
                boundMiB = Math.Round(perEntry * Capacity / 1024 / 1024, 2),
                method = $"GC.GetTotalMemory(true) before and after {entries:N0} Remember calls with fresh uid strings, JIT, 64-bit",
            });
            File.WriteAllText(output, json);
            Console.WriteLine(json);
        }
    }
}
