using System.Text.Json;
using System.Text.Json.Serialization;
using Cachier.Configuration;
using Cachier.Domain;
using Cachier.Kubernetes;
using Cachier.Reconcile;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Cachier.Plan;

/// <summary>
/// <c>cachier plan [--kubeconfig=PATH] [--resource=...]... [--exclude-namespace=NS]... [-o table|json]</c>: what a resync
/// would create, update and delete now, per workload, without writing anything. It runs the function's own resync
/// (<see cref="Resyncer"/>, <see cref="ImageReconciler"/>) over <see cref="DryRunApi"/>: the same settings, planner, diff and
/// guards; only GET and LIST reach the API server. Run before any web host is built.
/// </summary>
public static class PlanCommand
{
    public const string Name = "plan";

    private const string Usage = """
        usage: cachier plan [--warmer] [--kubeconfig=PATH] [--resource=Kind.version.group[/plural]]... [--exclude-namespace=NS]... [-o table|json]
          --warmer             the warmer's pass instead: the pull pods it would create and delete (Cachier__Warmer__* settings)
          --kubeconfig         default: $KUBECONFIG, else ~/.kube/config (Cachier__Kubeconfig as for the function)
          --resource           a watched kind (repeat); default: Cachier__Resources, else the six default kinds
          --exclude-namespace  a namespace left alone (repeat); added to Cachier__ExcludedNamespaces
          -o, --output         table (default) or json
        Reads only (get, list on the watched kinds and on Images); writes nothing.
        """;

    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter output, TextWriter error)
    {
        var settings = new List<KeyValuePair<string, string?>>();
        var excluded = new List<string>();
        var json = false;
        var warmer = false;
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            var eq = arg.IndexOf('=', StringComparison.Ordinal);
            var (name, value) = eq < 0 ? (arg, i + 1 < args.Count ? args[i + 1] : null) : (arg[..eq], arg[(eq + 1)..]);
            var consumed = eq < 0 && value is not null;
            switch (name)
            {
                case "--kubeconfig" when value is { Length: > 0 }:
                    settings.Add(new($"{CachierOptions.Section}:Kubeconfig", value));
                    break;
                case "--resource" when value is { Length: > 0 }:
                    settings.Add(new($"{CachierOptions.Section}:Resources:{settings.Count(s => s.Key.Contains(":Resources:"))}", value));
                    break;
                case "--exclude-namespace" when value is { Length: > 0 }:
                    excluded.Add(value);
                    break;
                case "-o" or "--output" when value is "json" or "table":
                    json = value == "json";
                    break;
                case "--warmer":
                    warmer = true;
                    consumed = false;
                    break;
                case "-h" or "--help":
                    output.Write(Usage);
                    return 0;
                default:
                    error.Write($"cachier plan: bad argument '{arg}'\n{Usage}");
                    return 2;
            }

            i += consumed ? 1 : 0;
        }

        CachierSettings cachier;
        try
        {
            cachier = Settings(settings, excluded);
        }
        catch (Exception e) when (e is FormatException or OptionsValidationException or InvalidOperationException)
        {
            error.Write($"cachier plan: {e.Message}\n");
            return 2;
        }

        try
        {
            if (warmer)
            {
                var warm = await PlanWarmAsync(cachier, CancellationToken.None);
                output.Write(json ? JsonSerializer.Serialize(warm, PlanJson.Default.WarmPlanReport) + "\n" : WarmPlanReport.Table(warm));
                return warm.Result == WarmSummary.Completed ? 0 : 1;
            }

            var report = await PlanAsync(cachier, CancellationToken.None);
            output.Write(json ? JsonSerializer.Serialize(report, PlanJson.Default.PlanReport) + "\n" : PlanReport.Table(report));
            return report.Result == ResyncResult.Completed ? 0 : 1;
        }
        catch (InvalidOperationException e)
        {
            error.Write($"cachier plan: {e.Message}\n");
            return 2;
        }
    }

    /// <summary>The function's configuration (appsettings.json beside the binary, then the environment), then the flags.</summary>
    private static CachierSettings Settings(List<KeyValuePair<string, string?>> flags, List<string> excluded)
    {
        var config = new ConfigurationBuilder()
            .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true)
            .AddEnvironmentVariables()
            .AddInMemoryCollection(flags)
            .Build();
        var options = CachierOptions.Bind(new ConfigurationBuilder().AddConfiguration(config)
            // A plan receives no events: who may send them does not apply.
            .AddInMemoryCollection([new($"{CachierOptions.Section}:Authentication:Mode", "None")]).Build());
        options.ExcludedNamespaces.AddRange(excluded);
        return new CachierSettings(options);
    }

    /// <summary>One resync over <see cref="DryRunApi"/>: what it would write, by workload.</summary>
    public static async Task<PlanReport> PlanAsync(CachierSettings settings, CancellationToken ct)
    {
        using var source = new KubeConnectionSource(KubeConnection.FromOptions(settings.Options), NullLogger<KubeConnectionSource>.Instance);
        var api = new DryRunApi(new KubeApi(source, settings));
        var memo = new PlanMemo(settings.Options.MemoCapacity, settings.Options.MemoTtl, TimeProvider.System);
        var reconciler = new ImageReconciler(api, settings, memo, NoEvents.Instance);
        var resyncer = new Resyncer(api, reconciler, NoEvents.Instance, settings, NullLogger<Resyncer>.Instance, new OneRun(), TimeProvider.System);
        var summary = await resyncer.RunAsync(ct);
        return new PlanReport(summary.Result, summary.Workloads, api.Changes, summary.SkippedKinds, summary.Failures);
    }

    /// <summary>One warm pass (<see cref="Warmer"/>) over <see cref="DryRunWarmApi"/>: the pull pods it would create and delete.</summary>
    public static async Task<WarmPlanReport> PlanWarmAsync(CachierSettings settings, CancellationToken ct)
    {
        using var source = new KubeConnectionSource(KubeConnection.FromOptions(settings.Options), NullLogger<KubeConnectionSource>.Instance);
        var api = new DryRunWarmApi(new KubeApi(source, settings));
        var pass = await new Warmer(api, settings, TimeProvider.System, NullLogger<Warmer>.Instance, new OneRun()).RunAsync(null, ct);
        return new WarmPlanReport(pass.Result, pass.Nodes, pass.Images, api.Create, api.Delete, api.Statuses, pass.Failures);
    }

    /// <summary>The resync outlives requests on the host's stopping token; a plan has no host, and stops with the process.</summary>
    private sealed class OneRun : IHostApplicationLifetime
    {
        public CancellationToken ApplicationStarted => CancellationToken.None;

        public CancellationToken ApplicationStopping => CancellationToken.None;

        public CancellationToken ApplicationStopped => CancellationToken.None;

        public void StopApplication()
        {
        }
    }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(PlanReport))]
[JsonSerializable(typeof(WarmPlanReport))]
internal sealed partial class PlanJson : JsonSerializerContext;
