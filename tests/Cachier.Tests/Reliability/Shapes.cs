using System.Globalization;
using System.Text.Json.Nodes;

namespace Cachier.Tests.Reliability;

/// <summary>Workloads and Images shaped as the API server serves them; the SPEC's naming rule computed independently.</summary>
public static class Shapes
{
    public const string Ns = "rel";

    public static JsonObject Deployment(string name, string uid, long generation, string[] images, string? serviceAccount = null, string ns = Ns)
    {
        var pod = new JsonObject
        {
            ["containers"] = new JsonArray(images.Select((image, i) => (JsonNode)new JsonObject { ["name"] = $"c{i}", ["image"] = image }).ToArray()),
        };
        if (serviceAccount is not null)
        {
            pod["serviceAccountName"] = serviceAccount;
        }

        return new JsonObject
        {
            ["apiVersion"] = "apps/v1",
            ["kind"] = "Deployment",
            ["metadata"] = new JsonObject
            {
                ["name"] = name,
                ["namespace"] = ns,
                ["uid"] = uid,
                ["resourceVersion"] = "4711",
                ["generation"] = generation,
            },
            ["spec"] = new JsonObject
            {
                ["replicas"] = 1,
                ["template"] = new JsonObject { ["spec"] = pod },
            },
        };
    }

    /// <summary>An Image of <paramref name="workloadName"/> as Cachier writes it, for seeding the fake API server.</summary>
    public static JsonObject OurImage(string workloadName, string uid, long generation, string image, string? serviceAccount = null, string? name = null, string ns = Ns)
    {
        var spec = new JsonObject { ["image"] = image };
        if (serviceAccount is not null)
        {
            spec["serviceAccountName"] = serviceAccount;
        }

        return new JsonObject
        {
            ["apiVersion"] = "caching.internal.knative.dev/v1alpha1",
            ["kind"] = "Image",
            ["metadata"] = new JsonObject
            {
                ["name"] = name ?? ExpectedNames.Image(workloadName, uid, image),
                ["namespace"] = ns,
                ["labels"] = new JsonObject
                {
                    ["controller"] = uid,
                    ["generation"] = generation.ToString("D5", CultureInfo.InvariantCulture),
                    ["app.kubernetes.io/managed-by"] = "cachier",
                },
                ["ownerReferences"] = new JsonArray(new JsonObject
                {
                    ["apiVersion"] = "apps/v1",
                    ["kind"] = "Deployment",
                    ["name"] = workloadName,
                    ["uid"] = uid,
                    ["controller"] = true,
                    ["blockOwnerDeletion"] = true,
                }),
            },
            ["spec"] = spec,
        };
    }
}
