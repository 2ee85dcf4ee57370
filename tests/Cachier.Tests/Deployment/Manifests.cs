using System.Text.Json.Nodes;
using Cachier.Domain;

namespace Cachier.Tests.DeploymentChecks;

/// <summary>Reading the objects of knative/*.yaml, as kubectl printed them with <c>-o json</c>.</summary>
internal static class Manifests
{
    public const string Namespace = "cachier-system";
    public const string ResourcesVariable = "Cachier__Resources";

    public static JsonObject Find(IEnumerable<JsonObject> objects, string kind, string name) =>
        objects.SingleOrDefault(o => (string?)o["kind"] == kind && (string?)o["metadata"]?["name"] == name)
        ?? throw new Xunit.Sdk.XunitException($"no {kind} named {name} in the manifests");

    public static JsonObject Container(JsonObject knativeService) =>
        knativeService["spec"]!["template"]!["spec"]!["containers"]!.AsArray().Single()!.AsObject();

    /// <summary>The kinds Cachier watches: env <c>Cachier__Resources</c> of the Knative Service, parsed by Cachier itself.</summary>
    public static IReadOnlyList<ResourceKind> WatchedKinds(IEnumerable<JsonObject> objects)
    {
        var env = Container(Find(objects, "Service", "cachier"))["env"]?.AsArray() ?? [];
        var value = env.Select(e => e!.AsObject()).SingleOrDefault(e => (string?)e["name"] == ResourcesVariable)?["value"]?.GetValue<string>()
            ?? throw new Xunit.Sdk.XunitException($"the Knative Service sets no {ResourcesVariable}: the watched kinds must be explicit, next to the RBAC that allows them");
        return new CachierSettings(new CachierOptions { Resources = [value] }).Kinds;
    }

    /// <summary>The name kubectl and RBAC use for a kind: <c>plural.group</c>, or <c>plural</c> in the core group.</summary>
    public static string Resource(ResourceKind kind) => kind.Group.Length == 0 ? kind.Plural : $"{kind.Plural}.{kind.Group}";

    /// <summary>Every (apiGroup, resource, verb) a ClusterRole's rules grant, one entry per combination.</summary>
    public static ISet<(string Group, string Resource, string Verb)> Grants(JsonObject clusterRole)
    {
        var grants = new HashSet<(string, string, string)>();
        foreach (var rule in clusterRole["rules"]!.AsArray().Select(r => r!.AsObject()))
        {
            Assert.Null(rule["resourceNames"]);
            Assert.Null(rule["nonResourceURLs"]);
            foreach (var group in Strings(rule["apiGroups"]))
            {
                foreach (var resource in Strings(rule["resources"]))
                {
                    foreach (var verb in Strings(rule["verbs"]))
                    {
                        grants.Add((group, resource, verb));
                    }
                }
            }
        }

        return grants;
    }

    public static IEnumerable<string> Strings(JsonNode? array) =>
        array?.AsArray().Select(n => n!.GetValue<string>()) ?? [];
}
