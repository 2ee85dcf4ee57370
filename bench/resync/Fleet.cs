using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Cachier.Domain;

namespace Cachier.Bench.Resync;

/// <summary>
/// One workload of the fleet. The recipe is the one of tests/Cachier.Tests/Integration/ResyncIntegrationTests.cs, repeated
/// per block of 100: 30 Deployments, 20 StatefulSets, 15 DaemonSets, 15 Jobs, 15 CronJobs (batch/v1beta1) and 5
/// ReplicaSets controlled by a Deployment of the block; one in ten opted out; shared, duplicated, init and digest
/// images; service accounts and pull secrets on some. Nothing starts a pod: replicas 0, parallelism 0, suspended.
/// </summary>
public sealed record Member(string Namespace, string Kind, string Name, string[] Containers, string[] Init, string? Decorate,
    string? ServiceAccount, string[] PullSecrets, string? ControlledBy)
{
    public string ApiVersion => Kind switch
    {
        "Job" => "batch/v1",
        "CronJob" => "batch/v1beta1",
        _ => "apps/v1",
    };

    /// <summary>How many Images the product's own planner gives this workload (the name needs a uid; the count does not).</summary>
    public int ExpectedImages
    {
        get
        {
            var plan = ImagePlanner.Plan(new Workload(ApiVersion, Kind, Namespace, Name, "uid", 1, Decorate, ControlledBy is not null,
                new PodTemplate([.. Init, .. Containers], ServiceAccount, PullSecrets)));
            return plan.Cache ? plan.Images.Count : 0;
        }
    }

    /// <summary>The object to create; a controlled one carries its owner's uid and the owner's selector labels.</summary>
    public JsonObject Manifest(string? ownerUid = null)
    {
        var app = ControlledBy ?? Name;
        var metadata = new JsonObject { ["name"] = Name, ["namespace"] = Namespace };
        if (Decorate is not null)
        {
            metadata["annotations"] = new JsonObject { ["cachier.mattmoor.io/decorate"] = Decorate };
        }

        if (ControlledBy is not null)
        {
            metadata["labels"] = new JsonObject { ["app"] = app };
            metadata["ownerReferences"] = new JsonArray(new JsonObject
            {
                ["apiVersion"] = "apps/v1",
                ["kind"] = "Deployment",
                ["name"] = ControlledBy,
                ["uid"] = ownerUid ?? throw new ArgumentNullException(nameof(ownerUid)),
                ["controller"] = true,
                ["blockOwnerDeletion"] = true,
            });
        }

        var pod = new JsonObject { ["containers"] = Named("c", Containers) };
        if (Init.Length > 0)
        {
            pod["initContainers"] = Named("init", Init);
        }

        if (ServiceAccount is not null)
        {
            pod["serviceAccountName"] = ServiceAccount;
        }

        if (PullSecrets.Length > 0)
        {
            pod["imagePullSecrets"] = new JsonArray([.. PullSecrets.Select(s => (JsonNode)new JsonObject { ["name"] = s })]);
        }

        if (Kind is "Job" or "CronJob")
        {
            pod["restartPolicy"] = Kind == "Job" ? "Never" : "OnFailure";
        }

        var template = new JsonObject { ["metadata"] = new JsonObject { ["labels"] = new JsonObject { ["app"] = app } }, ["spec"] = pod };
        JsonObject Selector() => new() { ["matchLabels"] = new JsonObject { ["app"] = app } };
        var spec = Kind switch
        {
            "Deployment" or "ReplicaSet" => new JsonObject { ["replicas"] = 0, ["selector"] = Selector(), ["template"] = template },
            "StatefulSet" => new JsonObject { ["replicas"] = 0, ["serviceName"] = Name, ["selector"] = Selector(), ["template"] = template },
            "DaemonSet" => new JsonObject { ["selector"] = Selector(), ["template"] = template },
            "Job" => new JsonObject { ["parallelism"] = 0, ["template"] = template },
            _ => new JsonObject
            {
                ["schedule"] = "*/5 * * * *",
                ["suspend"] = true,
                ["jobTemplate"] = new JsonObject { ["spec"] = new JsonObject { ["template"] = template } },
            },
        };
        return new JsonObject { ["apiVersion"] = ApiVersion, ["kind"] = Kind, ["metadata"] = metadata, ["spec"] = spec };
    }

    private static JsonArray Named(string prefix, string[] images) =>
        new([.. images.Select((image, i) => (JsonNode)new JsonObject { ["name"] = $"{prefix}{i}", ["image"] = image })]);
}

public static class Fleet
{
    /// <summary>Workload <paramref name="k"/> of the <paramref name="n"/>th namespace; its place in its block of 100 picks the kind.</summary>
    public static Member Recipe(string ns, int n, int k)
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

        return new Member(ns, kind, name, [.. containers], [.. init], decorate,
            j % 5 == 2 ? $"sa-{j % 3}" : null,
            j % 12 == 10 ? ["regcred", "mirror"] : j % 6 == 4 ? ["regcred"] : [],
            kind == "ReplicaSet" ? $"deploy-{k - j + (j - 95):D3}" : null);
    }
}
