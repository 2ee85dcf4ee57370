using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;

namespace Cachier.Bench;

/// <summary>
/// Sender authentication on vs off (issue 16): the same AOT binary with <c>Cachier__Authentication__Mode=None</c> and
/// with a real ServiceAccount token checked (audience, allowed subject, issuer and keys discovered from the API
/// server). Both sides get the same bearer header. Steady state at concurrency 1 and 8 (interleaved blocks, both
/// processes alive), idle RSS, and cold start to the first 200 (the sides take turns).
/// </summary>
public static class Auth
{
    public static async Task RunAsync(BenchEnv env, int requests, int coldRuns)
    {
        var token = Environment.GetEnvironmentVariable("BENCH_SENDER_TOKEN") ?? throw new InvalidOperationException("BENCH_SENDER_TOKEN is not set (run bench/run.sh)");
        var sender = Environment.GetEnvironmentVariable("BENCH_SENDER_USER")!;
        var audience = Environment.GetEnvironmentVariable("BENCH_SENDER_AUDIENCE")!;
        var ns = env.Namespace("auth");
        using var cluster = new Cluster(env);
        await cluster.EnsureNamespaceAsync(ns);
        var names = Enumerable.Range(0, 8).Select(i => $"auth-{i}").ToArray();
        await cluster.CreateDeploymentsAsync(ns, names.Select(n => (n, (IReadOnlyList<string>)[Cluster.Image(n, 0), Cluster.Image(n, 1)])));

        Dictionary<string, string> Settings(int port, bool on)
        {
            var environment = env.FunctionEnvironment(port);
            if (on)
            {
                environment.Remove("Cachier__Authentication__Mode");
                environment["Cachier__Authentication__Audience"] = audience;
                environment["Cachier__Authentication__AllowedSubjects__0"] = sender;
            }

            return environment;
        }

        var rows = new List<AuthRow>();
        using var local = Http.LocalClient();
        var ports = new[] { Ports.Free(), Ports.Free() };
        await using (var off = FunctionProcess.Start(env.AotBinary, [], Settings(ports[0], false), ports[0], Path.Combine(env.LogsDir, "auth-off.log")))
        await using (var on = FunctionProcess.Start(env.AotBinary, [], Settings(ports[1], true), ports[1], Path.Combine(env.LogsDir, "auth-on.log")))
        {
            await off.WaitReadyAsync(local, TimeSpan.FromSeconds(30));
            await on.WaitReadyAsync(local, TimeSpan.FromSeconds(30));
            rows.Add(Row("idle RSS", "MiB", off.ReadMemory().VmRssMiB, on.ReadMemory().VmRssMiB, higherIsWorse: true));

            Func<int, Task<(bool, string?)>> Send(FunctionProcess function, string verb) => async i =>
            {
                using var request = Events.RefDeployment(function.Url, verb, ns, names[i % names.Length]);
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
                using var response = await local.SendAsync(request);
                _ = await response.Content.ReadAsByteArrayAsync();
                return (response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}");
            };

            foreach (var function in new[] { off, on })
            {
                var primed = await Load.RunAsync(names.Length, 1, Send(function, "add"));
                if (primed.Errors > 0)
                {
                    throw new InvalidOperationException($"priming {function.Url} failed: {primed.FirstError}; see its log");
                }
            }

            foreach (var concurrency in new[] { 1, 8 })
            {
                var blocks = new Dictionary<bool, List<Block>> { [false] = [], [true] = [] };
                await Load.RunAsync(Math.Max(50, requests / 10), concurrency, Send(off, "update"));
                await Load.RunAsync(Math.Max(50, requests / 10), concurrency, Send(on, "update"));
                for (var b = 0; b < 10; b++)
                {
                    // off, on, on, off, off, on, ...: neither side always goes first.
                    foreach (var side in b % 2 == 0 ? new[] { false, true } : [true, false])
                    {
                        blocks[side].Add(await Load.RunAsync(Math.Max(1, requests / 10), concurrency, Send(side ? on : off, "update")));
                    }
                }

                var offRate = LatencySummary.From(blocks[false]);
                var onRate = LatencySummary.From(blocks[true]);
                if (offRate.Errors + onRate.Errors > 0)
                {
                    throw new InvalidOperationException($"steady c={concurrency}: errors off {offRate.Errors} ({offRate.FirstError}), on {onRate.Errors} ({onRate.FirstError})");
                }

                rows.Add(Row($"steady state, c={concurrency}", "events/s", offRate.EventsPerSecond, onRate.EventsPerSecond, higherIsWorse: false));
            }
        }

        var cold = new Dictionary<bool, List<double>> { [false] = [], [true] = [] };
        for (var run = 0; run <= coldRuns; run++)
        {
            foreach (var side in run % 2 == 0 ? new[] { false, true } : [true, false])
            {
                var ms = await ColdOnceAsync(env, cluster, local, ns, token, $"cold-{(side ? "on" : "off")}-{run}", side, Settings);
                Console.Error.WriteLine($"auth: cold run {run}{(run == 0 ? " (warm-up)" : "")} {(side ? "on" : "off")}: {ms:0.0} ms");
                if (run > 0)
                {
                    cold[side].Add(ms);
                }
            }
        }

        rows.Add(Row($"cold start to first 200 (median of {coldRuns})", "ms", Stats.Median(cold[false]), Stats.Median(cold[true]), higherIsWorse: true));
        foreach (var row in rows)
        {
            Console.Error.WriteLine($"auth: {row.Name}: off {row.Off} {row.Unit}, on {row.On} {row.Unit} ({row.Worse:+0.0;-0.0} % worse)");
        }

        ResultFiles.Write(env, "auth", new AuthResult(sender, audience, rows));
        await cluster.DeleteNamespaceAsync(ns);
    }

    private static AuthRow Row(string name, string unit, double off, double on, bool higherIsWorse) =>
        new(name, unit, Math.Round(off, 1), Math.Round(on, 1), Math.Round((higherIsWorse ? on / off - 1 : off / on - 1) * 100, 1));

    private static async Task<double> ColdOnceAsync(BenchEnv env, Cluster cluster, HttpClient client, string ns, string token, string workload, bool on,
        Func<int, bool, Dictionary<string, string>> environment)
    {
        await cluster.CreateDeploymentAsync(ns, workload, [Cluster.Image(workload, 0)]);
        var port = Ports.Free();
        var started = Stopwatch.GetTimestamp();
        await using var process = FunctionProcess.Start(env.AotBinary, [], environment(port, on), port, Path.Combine(env.LogsDir, $"auth-{workload}.log"));
        while (Stopwatch.GetElapsedTime(started) < TimeSpan.FromSeconds(30))
        {
            try
            {
                using var request = Events.RefDeployment(process.Url, "add", ns, workload);
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
                using var response = await client.SendAsync(request);
                _ = await response.Content.ReadAsByteArrayAsync();
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                }

                if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
                {
                    throw new InvalidOperationException($"the sender's token was refused ({(int)response.StatusCode}); see the log of {workload}");
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            if (process.HasExited)
            {
                throw new InvalidOperationException($"{workload} exited during start-up");
            }

            await Task.Delay(1);
        }

        throw new TimeoutException($"{workload} did not answer 200 within 30 s");
    }
}
