using System.Diagnostics;

namespace Cachier.Bench;

/// <summary>Result of one fixed-count block of requests.</summary>
public sealed record Block(int Requests, int Errors, double Seconds, double[] LatenciesMs, string? FirstError);

/// <summary>A fixed number of requests spread over a fixed number of workers: bounded by count, never by time.</summary>
public static class Load
{
    /// <param name="send">sends request i and answers whether it succeeded (and why not).</param>
    public static async Task<Block> RunAsync(int requests, int concurrency, Func<int, Task<(bool Ok, string? Error)>> send)
    {
        var latencies = new double[requests];
        var next = -1;
        var errors = 0;
        string? firstError = null;
        var started = Stopwatch.GetTimestamp();
        var workers = Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < requests)
            {
                var t0 = Stopwatch.GetTimestamp();
                bool ok;
                string? error;
                try
                {
                    (ok, error) = await send(i);
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
                {
                    (ok, error) = (false, e.Message);
                }

                latencies[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                if (!ok)
                {
                    Interlocked.Increment(ref errors);
                    Interlocked.CompareExchange(ref firstError, error ?? "failed", null);
                }
            }
        })).ToArray();
        await Task.WhenAll(workers);
        return new Block(requests, errors, Stopwatch.GetElapsedTime(started).TotalSeconds, latencies, firstError);
    }
}

public static class Stats
{
    /// <summary>Nearest-rank percentile.</summary>
    public static double Percentile(IReadOnlyList<double> values, double p)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }

        var sorted = values.Order().ToArray();
        var rank = (int)Math.Ceiling(p / 100.0 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    public static double Median(IReadOnlyList<double> values) => Percentile(values, 50);
}
