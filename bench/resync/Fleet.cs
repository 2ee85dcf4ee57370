using System.Text.Json.Nodes;
using Cachier.Domain;

namespace Cachier.Bench.Resync;

/// <summary>
/// The fleet of tests/Cachier.Tests/Support/FleetRecipe.cs (linked in: the recipe the resync integration test proves
/// correct), made into manifests and counted with the product's own planner.
/// </summary>
public static class Fleet
{
    public static FleetMember Recipe(string ns, int n, int k) => FleetRecipe.Member(ns, n, k);

    /// <summary>How many Images the product's own planner gives this workload (the name needs a uid; the count does not).</summary>
    public static int ExpectedImages(this FleetMember member)
    {
        var plan = ImagePlanner.Plan(new Workload(member.ApiVersion, member.Kind, member.Namespace, member.Name, "uid", 1, member.Decorate,
            member.ControlledBy is not null, new PodTemplate([.. member.Init, .. member.Containers], member.ServiceAccount, member.PullSecrets)));
        return plan.Cache ? plan.Images.Count : 0;
    }

    /// <summary>The object to create; a controlled one carries its owner's uid and the owner's selector labels.</summary>
    public static JsonObject Manifest(this FleetMember member, string? ownerUid = null)
    {
        var app = member.ControlledBy ?? member.Name;
        var metadata = new JsonObject { ["name"] = member.Name, ["namespace"] = member.Namespace };
        if (member.Decorate is not null)
        {
            metadata["annotations"] = new JsonObject { ["cachier.mattmoor.io/decorate"] = member.Decorate };
        }

        if (member.ControlledBy is not null)
        {
            metadata["labels"] = new JsonObject { ["app"] = app };
            metadata["ownerReferences"] = new JsonArray(new JsonObject
            {
                ["apiVersion"] = "apps/v1",
                ["kind"] = "Deployment",
                ["name"] = member.ControlledBy,
                ["uid"] = ownerUid ?? throw new ArgumentNullException(nameof(ownerUid)),
                ["controller"] = true,
                ["blockOwnerDeletion"] = true,
            });
        }

        var pod = new JsonObject { ["containers"] = Named("c", member.Containers) };
        if (member.Init.Length > 0)
        {
            pod["initContainers"] = Named("init", member.Init);
        }

        if (member.ServiceAccount is not null)
        {
            pod["serviceAccountName"] = member.ServiceAccount;
        }

        if (member.PullSecrets.Length > 0)
        {
            pod["imagePullSecrets"] = new JsonArray([.. member.PullSecrets.Select(s => (JsonNode)new JsonObject { ["name"] = s })]);
        }

        if (member.Kind is "Job" or "CronJob")
        {
            pod["restartPolicy"] = member.Kind == "Job" ? "Never" : "OnFailure";
        }

        var template = new JsonObject { ["metadata"] = new JsonObject { ["labels"] = new JsonObject { ["app"] = app } }, ["spec"] = pod };
        JsonObject Selector() => new() { ["matchLabels"] = new JsonObject { ["app"] = app } };
        var spec = member.Kind switch
        {
            "Deployment" or "ReplicaSet" => new JsonObject { ["replicas"] = 0, ["selector"] = Selector(), ["template"] = template },
            "StatefulSet" => new JsonObject { ["replicas"] = 0, ["serviceName"] = member.Name, ["selector"] = Selector(), ["template"] = template },
            "DaemonSet" => new JsonObject { ["selector"] = Selector(), ["template"] = template },
            "Job" => new JsonObject { ["parallelism"] = 0, ["template"] = template },
            _ => new JsonObject
            {
                ["schedule"] = "*/5 * * * *",
                ["suspend"] = true,
                ["jobTemplate"] = new JsonObject { ["spec"] = new JsonObject { ["template"] = template } },
            },
        };
        return new JsonObject { ["apiVersion"] = member.ApiVersion, ["kind"] = member.Kind, ["metadata"] = metadata, ["spec"] = spec };
    }

    private static JsonArray Named(string prefix, string[] images) =>
        new([.. images.Select((image, i) => (JsonNode)new JsonObject { ["name"] = $"{prefix}{i}", ["image"] = image })]);
}
