using System.Text.Json;
using System.Text.Json.Serialization;

namespace Cachier.Bench;

// What each command measured, written as JSON to bench/out/results/ and rendered by `report`.

public sealed record LatencySummary(int Requests, int Errors, double Seconds, double EventsPerSecond, double P50Ms, double P99Ms, double MeanMs, string? FirstError)
{
    public static LatencySummary From(IReadOnlyList<Block> blocks)
    {
        var latencies = blocks.SelectMany(b => b.LatenciesMs).ToArray();
        var seconds = blocks.Sum(b => b.Seconds);
        var requests = blocks.Sum(b => b.Requests);
        return new LatencySummary(requests, blocks.Sum(b => b.Errors), Math.Round(seconds, 3), Math.Round(requests / seconds, 1),
            Math.Round(Stats.Percentile(latencies, 50), 3), Math.Round(Stats.Percentile(latencies, 99), 3),
            Math.Round(latencies.Average(), 3), blocks.Select(b => b.FirstError).FirstOrDefault(e => e is not null));
    }
}

public sealed record SteadyRow(
    string Name,
    int Concurrency,
    int Workloads,
    LatencySummary Raw,
    LatencySummary Function,
    double Ratio,
    double FunctionCpuUsPerEvent,
    double? ApiServerCpuUsPerRawCall,
    double? ApiServerCpuUsPerFunctionEvent,
    bool Diagnostic = false,
    double? FunctionRssMiB = null,
    double? FunctionGetMeanMs = null,
    string? Variant = null);

public sealed record SteadyResult(
    string Function,
    int Workloads,
    int ImagesPerWorkload,
    int WarmupPerSide,
    int RequestsPerSide,
    IReadOnlyList<SteadyRow> Rows,
    SteadyRow? SingleWorkload,
    int FunctionEventsAudited,
    string FunctionCallsAudited,
    double LoadAverageBefore,
    double LoadAverageAfter);

public sealed record CallScenario(
    string Name,
    string Mode,
    string Event,
    int Calls,
    string Verbs,
    IReadOnlyList<string> Requests,
    string Target,
    int? TargetMax,
    bool? Met,
    string Outcome,
    string Note);

public sealed record CallsResult(string FunctionUser, IReadOnlyList<CallScenario> Scenarios);

public sealed record ColdRun(string Variant, int Run, double StartToFirst200Ms, double ListenMs, double FirstRequestMs, int Attempts, bool CreatedImages, string Outcome);

public sealed record ColdVariant(string Variant, string Command, int Runs, double MedianMs, double MinMs, double MaxMs, double MedianListenMs, double MedianFirstRequestMs, int RunsThatCreatedImages);

public sealed record ColdResult(IReadOnlyList<ColdVariant> Variants, IReadOnlyList<ColdRun> Runs, int ImagesPerWorkload);

public sealed record MemorySample(string Stage, double VmRssMiB, double VmHwmMiB, double RssAnonMiB, double RssFileMiB, int Events, int Errors, double Seconds);

public sealed record MemoryVariant(string Name, string Environment, IReadOnlyList<MemorySample> Samples);

public sealed record MemoryResult(int Workloads, int ImagesPerWorkload, int EventsPerPhase, int Concurrency, IReadOnlyList<MemoryVariant> Variants, MemorySample? Echo);

public static class ResultFiles
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static void Write<T>(BenchEnv env, string name, T value) =>
        File.WriteAllText(Path.Combine(env.ResultsDir, name + ".json"), JsonSerializer.Serialize(value, Options));

    public static T? Read<T>(string dir, string name)
        where T : class
    {
        var path = Path.Combine(dir, name + ".json");
        return File.Exists(path) ? JsonSerializer.Deserialize<T>(File.ReadAllText(path), Options) : null;
    }

    public static double LoadAverage() =>
        double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>One side of the backfill: Images created, wall time, rate, and (for the function) its API calls from the audit log.</summary>
public sealed record BackfillSide(string Name, int Images, double Seconds, double ImagesPerSecond, int Calls, string Verbs, int Errors, string? Note, double? ServerMs = null);

public sealed record BackfillResult(int Workloads, int ImagesPerWorkload, int Parallelism, IReadOnlyList<BackfillSide> Raw, BackfillSide First, BackfillSide Second, int ImagesFound, double Ratio, string? NotesAfter = null);

/// <summary>One figure with sender authentication off and on; Worse = how much worse on is, in % (positive = worse).</summary>
public sealed record AuthRow(string Name, string Unit, double Off, double On, double Worse);

public sealed record AuthResult(string Sender, string Audience, IReadOnlyList<AuthRow> Rows);

public sealed record MemoSize(int Entries, double BytesPerEntry, int Capacity, double BoundMiB, string Method);
