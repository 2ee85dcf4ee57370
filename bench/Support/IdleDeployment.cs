using System.Text.Json.Nodes;

namespace Cachier.Bench.Support;

/// <summary>The bench's one Deployment shape: zero replicas, so it costs the cluster no pod until a bench scales it.</summary>
public static class IdleDeployment
{
    /// <param name="containers">The pod's containers.</param>
    /// <param name="annotations">The Deployment's annotations (say, the decorate opt-out), when any.</param>
    /// <param name="pod">More fields of the pod spec, when any.</param>
    public static JsonObject Manifest(string ns, string name, JsonArray containers, IReadOnlyDictionary<string, string>? annotations = null, JsonObject? pod = null)
    {
        var metadata = new JsonObject { ["name"] = name, ["namespace"] = ns };
        if (annotations is not null)
        {
            metadata["annotations"] = new JsonObject(annotations.Select(a => KeyValuePair.Create(a.Key, (JsonNode?)JsonValue.Create(a.Value))));
        }

        var spec = pod ?? [];
        spec["containers"] = containers;
        return new JsonObject
        {
            ["apiVersion"] = "apps/v1",
            ["kind"] = "Deployment",
            ["metadata"] = metadata,
            ["spec"] = new JsonObject
            {
                ["replicas"] = 0,
                ["selector"] = new JsonObject { ["matchLabels"] = new JsonObject { ["app"] = name } },
                ["template"] = new JsonObject
                {
                    ["metadata"] = new JsonObject { ["labels"] = new JsonObject { ["app"] = name } },
                    ["spec"] = spec,
                },
            },
        };
    }
}
