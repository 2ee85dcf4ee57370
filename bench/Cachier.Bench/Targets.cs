namespace Cachier.Bench;

public enum TargetArea { Steady, Calls, ColdWhole, ColdListen, ColdFirst, IdleRss, RssGrowth, BackfillFirst, BackfillSecond, Auth }

/// <summary>One target row of the report: what was measured against what, and whether it was met.</summary>
public sealed record TargetRow(TargetArea Area, string Target, string Measured, string Margin, bool Met);

/// <summary>
/// Every target of issues 7 and 16, evaluated once: the report's table and "What stands in the way" read the same
/// rows, so a missed target can neither be left out of the analysis nor be called met there.
/// </summary>
public static class Targets
{
    /// <summary>Issue 16: steady state >= 0.8 x the raw client, with the per-event log line on (issue 7 asked 0.6).</summary>
    public const double SteadyRatio = 0.8;

    public const double ListenRatio = 1.3;
    public const double FirstEventRatio = 1.2;
    public const double BackfillRatio = 0.9;
    public const double AuthWorsePercent = 5;

    public static List<TargetRow> Evaluate(SteadyResult? steady, CallsResult? calls, ColdResult? cold, MemoryResult? memory, MemoSize? memo,
        BackfillResult? backfill, AuthResult? auth)
    {
        var rows = new List<TargetRow>();
        foreach (var row in steady?.Rows.Where(r => !r.Diagnostic) ?? [])
        {
            rows.Add(new(TargetArea.Steady, $"Steady-state events/s >= {SteadyRatio:0.0} x raw client ({row.Name}, {row.Workloads} workloads, log line on)",
                $"function {row.Function.EventsPerSecond:0.#}/s, raw {row.Raw.EventsPerSecond:0.#}/s", $"{row.Ratio:0.00} x raw (target {SteadyRatio:0.00})", row.Ratio >= SteadyRatio));
        }

        foreach (var s in calls?.Scenarios.Where(s => s.TargetMax is not null) ?? [])
        {
            rows.Add(new(TargetArea.Calls, $"API calls, {s.Name} ({s.Mode}): {s.Target}", $"{s.Calls} ({s.Verbs})", $"{s.Calls} vs {s.TargetMax}", s.Met == true));
        }

        if (Echo(cold) is { } echo && Aot(cold) is { } aot)
        {
            var ratio = aot.MedianMs / echo.MedianMs;
            rows.Add(new(TargetArea.ColdWhole, "AOT cold start to first reconciled event <= 2 x bare AOT echo start-up",
                $"Cachier AOT {aot.MedianMs:0.0} ms, echo {echo.MedianMs:0.0} ms (medians of {aot.Runs})", $"{ratio:0.00} x echo (target 2.00; limit {2 * echo.MedianMs:0.0} ms)", ratio <= 2));
            var listen = aot.MedianListenMs / echo.MedianListenMs;
            rows.Add(new(TargetArea.ColdListen, $"AOT time until the port answers <= {ListenRatio:0.0} x the bare AOT echo's (issue 16)",
                $"Cachier AOT {aot.MedianListenMs:0.0} ms, echo {echo.MedianListenMs:0.0} ms (medians)", $"{listen:0.00} x echo (target {ListenRatio:0.00})", listen <= ListenRatio));
            if (Floor(cold) is { } floor)
            {
                var first = aot.MedianFirstRequestMs / floor.MedianMs;
                rows.Add(new(TargetArea.ColdFirst, $"AOT first event's answer (port ready to 200) <= {FirstEventRatio:0.0} x the API floor (issue 16)",
                    $"Cachier AOT {aot.MedianFirstRequestMs:0.0} ms, floor {floor.MedianMs:0.0} ms (medians)", $"{first:0.00} x floor (target {FirstEventRatio:0.00})", first <= FirstEventRatio));
            }
        }

        if (memory?.Variants.FirstOrDefault(v => v.Name == "default") is { } shipped)
        {
            var idle = shipped.Samples[0].VmRssMiB;
            rows.Add(new(TargetArea.IdleRss, "Idle RSS <= 40 MiB (AOT, as shipped)", $"{idle:0.0} MiB", $"{idle / 40:0.00} x target ({idle - 40:+0.0;-0.0} MiB)", idle <= 40));
            if (memo is not null && shipped.Samples.Count >= 4)
            {
                var after10k = shipped.Samples[2].VmRssMiB;
                var growth = after10k - idle;
                rows.Add(new(TargetArea.RssGrowth, $"No RSS growth after {memory.EventsPerPhase:N0} events beyond the memo's bound ({memo.BoundMiB:0.0} MiB at capacity {memo.Capacity:N0})",
                    $"idle {idle:0.0} -> {after10k:0.0} MiB after {memory.EventsPerPhase:N0} events ({growth:+0.0;-0.0} MiB); {after10k:0.0} -> {shipped.Samples[3].VmRssMiB:0.0} MiB over the next {memory.EventsPerPhase:N0}",
                    $"growth {growth:0.0} MiB vs bound {memo.BoundMiB:0.0} MiB", growth <= memo.BoundMiB));
            }
        }

        if (backfill is not null)
        {
            rows.Add(new(TargetArea.BackfillFirst, $"Backfill: first resync >= {BackfillRatio:0.0} x a raw client's create rate, same writes in flight ({backfill.Parallelism})",
                $"resync {backfill.First.ImagesPerSecond:0}/s, raw {backfill.Raw.Average(r => r.ImagesPerSecond):0}/s ({backfill.Workloads:N0} workloads x {backfill.ImagesPerWorkload})",
                $"{backfill.Ratio:0.00} x raw (target {BackfillRatio:0.00})", backfill.Ratio >= BackfillRatio));
            rows.Add(new(TargetArea.BackfillSecond, "Backfill: second resync with nothing to do makes kinds + pages LISTs and no write",
                $"{backfill.Second.Calls} calls ({backfill.Second.Verbs})", $"{backfill.Second.Calls} calls", SecondResyncWrites(backfill) == 0));
        }

        foreach (var row in auth?.Rows ?? [])
        {
            rows.Add(new(TargetArea.Auth, $"Sender authentication on: {row.Name} not worse than off by more than {AuthWorsePercent:0} %",
                $"on {row.On:0.#} {row.Unit}, off {row.Off:0.#} {row.Unit}", $"{row.Worse:+0.0;-0.0} % worse", row.Worse <= AuthWorsePercent));
        }

        return rows;
    }

    public static int SecondResyncWrites(BackfillResult backfill) =>
        backfill.Second.Verbs.Split(", ").Count(v => !v.StartsWith("list", StringComparison.Ordinal) && v != "none");

    public static ColdVariant? Echo(ColdResult? cold) => cold?.Variants.FirstOrDefault(v => v.Variant.StartsWith("echo", StringComparison.Ordinal));

    public static ColdVariant? Aot(ColdResult? cold) => cold?.Variants.FirstOrDefault(v => v.Variant == "Cachier AOT");

    public static ColdVariant? Floor(ColdResult? cold) => cold?.Variants.FirstOrDefault(v => v.Variant == Cold.ApiFloor && v.Runs > 0);
}
