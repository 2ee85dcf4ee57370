using System.Globalization;
using Cachier.Bench;

// bench/run.sh drives these commands; each writes bench/out/results/<command>.json, `report` renders RESULTS.md.
//   steady [--requests 2000] [--warmup 200] [--workloads 8]
//   calls
//   cold [--runs 11]
//   memory [--workloads 200] [--events 10000] [--concurrency 8] [--gc default,server,machine-ca-bundle]
//   backfill [--workloads 1000] [--parallelism 8]
//   auth [--requests 2000] [--runs 11]
//   report --output bench/RESULTS.md
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;

if (args.Length == 0)
{
    Console.Error.WriteLine("usage: cachier-bench steady|calls|cold|memory|backfill|auth|report [options]");
    return 2;
}

var options = Options(args.Skip(1).ToArray());
int Int(string name, int fallback) => options.TryGetValue(name, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;

switch (args[0])
{
    case "steady":
        await Steady.RunAsync(BenchEnv.FromEnvironment(), Int("requests", 2000), Int("warmup", 200), Int("workloads", 8));
        break;
    case "calls":
        await Calls.RunAsync(BenchEnv.FromEnvironment());
        break;
    case "cold":
        await Cold.RunAsync(BenchEnv.FromEnvironment(), Int("runs", 11), options.GetValueOrDefault("only"),
            options.TryGetValue("env", out var extra) ? extra.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(kv => kv.Split('=', 2)).ToDictionary(kv => kv[0], kv => kv[1]) : null);
        break;
    case "memory":
        await MemoryBench.RunAsync(BenchEnv.FromEnvironment(), Int("workloads", 200), Int("events", 10_000), Int("concurrency", 8),
            (options.GetValueOrDefault("gc") ?? "default").Split(',', StringSplitOptions.RemoveEmptyEntries));
        break;
    case "backfill":
        await Backfill.RunAsync(BenchEnv.FromEnvironment(), Int("workloads", 1000), Int("parallelism", 8));
        break;
    case "auth":
        await Auth.RunAsync(BenchEnv.FromEnvironment(), Int("requests", 2000), Int("runs", 11));
        break;
    case "report":
        Report.Write(options["out"], options["output"]);
        break;
    default:
        Console.Error.WriteLine($"unknown command {args[0]}");
        return 2;
}

return 0;

static Dictionary<string, string> Options(string[] args)
{
    var options = new Dictionary<string, string>(StringComparer.Ordinal);
    for (var i = 0; i + 1 < args.Length; i += 2)
    {
        options[args[i].TrimStart('-')] = args[i + 1];
    }

    return options;
}
