using System.Security.Cryptography;

// One source file, compiled into the tests (Integration/ResyncIntegrationTests) and linked into bench/resync, so the
// fleet the resync test proves correct is the fleet the resync bench measures. It depends on nothing of either project.
namespace Cachier.Tests.Support;

/// <summary>One workload of the fleet, as the recipe makes it (no uid: the API server gives that).</summary>
public sealed record FleetMember(string Namespace, string Kind, string Name, string[] Containers, string[] Init, string? Decorate,
    string? ServiceAccount, string[] PullSecrets, string? ControlledBy)
{
    public string ApiVersion => Kind switch
    {
        "Job" => "batch/v1",
        "CronJob" => "batch/v1beta1",
        _ => "apps/v1",
    };
}

/// <summary>
/// The fleet, per block of 100 workloads in a namespace: 30 Deployments, 20 StatefulSets, 15 DaemonSets, 15 Jobs,
/// 15 CronJobs (batch/v1beta1) and 5 ReplicaSets controlled by a Deployment of the block (one opted back in); one in ten
/// opted out; shared, duplicated, init and digest images; service accounts and pull secrets on some; one name long
/// enough to cut. Nothing starts a pod when made idle (replicas 0, parallelism 0, suspended).
/// </summary>
public static class FleetRecipe
{
    /// <summary>Workload <paramref name="k"/> of the <paramref name="n"/>th namespace; its place in its block of 100 picks the kind.</summary>
    public static FleetMember Member(string ns, int n, int k)
    {
        var j = k % 100;
        var kind = j switch
        {
            < 30 => "Deployment",
            < 50 => "StatefulSet",
            < 65 => "DaemonSet",
            < 80 => "Job",
            < 95 => "CronJob",
            _ => "ReplicaSet",
        };
        var prefix = kind switch { "Deployment" => "deploy", "StatefulSet" => "sts", "DaemonSet" => "ds", "Job" => "job", "CronJob" => "cron", _ => "rs" };
        var name = j == 29 ? $"deploy-{k:D3}-with-a-name-long-enough-to-be-cut-at-the-dash-here" : $"{prefix}-{k:D3}";
        var main = j % 11 == 5
            ? $"registry.local/pinned/app@sha256:{Convert.ToHexStringLower(SHA256.HashData(BitConverter.GetBytes(j)))}"
            : $"registry.local/team{n % 4}/app{j % 13}:1.{j % 5}";
        var containers = new List<string> { main };
        if (j % 3 == 0)
        {
            containers.Add("registry.local/mesh/proxy:1.9");
        }

        if (j % 8 == 1)
        {
            containers.Add(main);
        }

        var init = new List<string>();
        if (j % 4 == 1)
        {
            init.Add("registry.local/tools/init:2");
        }

        if (j % 16 == 9)
        {
            init.Add(main);
        }

        // Opting in on a Deployment would be copied to the ReplicaSets the controller-manager makes at its own pace.
        var decorate = (j % 10, kind) switch
        {
            (7, _) => new[] { "false", "Off", "DISABLED", "disable" }[j / 10 % 4],
            (3, not "Deployment") => new[] { "true", "On", "ENABLED", "enable" }[j / 10 % 4],
            (5, not "Deployment") => "maybe",
            _ => null,
        };
        if (kind == "ReplicaSet")
        {
            decorate = (j - 95) switch { 0 => "maybe", 3 => "True", 4 => "off", _ => null };
        }

        return new FleetMember(ns, kind, name, [.. containers], [.. init], decorate,
            j % 5 == 2 ? $"sa-{j % 3}" : null,
            j % 12 == 10 ? ["regcred", "mirror"] : j % 6 == 4 ? ["regcred"] : [],
            kind == "ReplicaSet" ? $"deploy-{k - 95:D3}" : null);
    }
}
