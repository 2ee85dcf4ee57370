using System.Text.Json.Nodes;

namespace Cachier.Tests.Integration;

/// <summary>Workload manifests for the tests, and the SPEC's naming rule computed independently of the product.</summary>
public static class Workloads
{
    public static string Deployment(string ns, string name, string[] images, string[]? init = null,
        string? decorate = null, string? serviceAccount = null, string[]? pullSecrets = null, int replicas = 1) =>
        new JsonObject
        {
            ["apiVersion"] = "apps/v1",
            ["kind"] = "Deployment",
            ["metadata"] = Metadata(ns, name, decorate),
            ["spec"] = new JsonObject
            {
                ["replicas"] = replicas,
                ["selector"] = new JsonObject { ["matchLabels"] = new JsonObject { ["app"] = name } },
                ["template"] = Template(name, images, init, serviceAccount, pullSecrets),
            },
        }.ToJsonString();

    public static string StatefulSet(string ns, string name, string[] images, string serviceAccount, string[] pullSecrets) =>
        new JsonObject
        {
            ["apiVersion"] = "apps/v1",
            ["kind"] = "StatefulSet",
            ["metadata"] = Metadata(ns, name, null),
            ["spec"] = new JsonObject
            {
                ["serviceName"] = name,
                ["selector"] = new JsonObject { ["matchLabels"] = new JsonObject { ["app"] = name } },
                ["template"] = Template(name, images, null, serviceAccount, pullSecrets),
            },
        }.ToJsonString();

    public static string CronJob(string ns, string name, string[] images) =>
        new JsonObject
        {
            ["apiVersion"] = "batch/v1beta1",
            ["kind"] = "CronJob",
            ["metadata"] = Metadata(ns, name, null),
            ["spec"] = new JsonObject
            {
                ["schedule"] = "*/5 * * * *",
                ["jobTemplate"] = new JsonObject
                {
                    ["spec"] = new JsonObject { ["template"] = Template(name, images, null, null, null, "OnFailure") },
                },
            },
        }.ToJsonString();

    public static string Foo(string ns, string name, string[] images) =>
        new JsonObject
        {
            ["apiVersion"] = "example.cachier.dev/v1",
            ["kind"] = "Foo",
            ["metadata"] = Metadata(ns, name, null),
            ["spec"] = new JsonObject { ["template"] = Template(name, images, null, null, null) },
        }.ToJsonString();

    /// <summary>
    /// A workload of any kind the tests watch that starts no pod (replicas 0, parallelism 0, suspended; a DaemonSet
    /// has no node to run on), as one item of a <c>kind: List</c>: many of them cost the cluster nothing but storage.
    /// </summary>
    public static JsonObject Idle(string kind, string ns, string name, string[] images, string[]? init = null,
        string? decorate = null, string? serviceAccount = null, string[]? pullSecrets = null)
    {
        var selector = new JsonObject { ["matchLabels"] = new JsonObject { ["app"] = name } };
        var (apiVersion, spec) = kind switch
        {
            "Deployment" or "ReplicaSet" => ("apps/v1", new JsonObject
            {
                ["replicas"] = 0,
                ["selector"] = selector,
                ["template"] = Template(name, images, init, serviceAccount, pullSecrets),
            }),
            "StatefulSet" => ("apps/v1", new JsonObject
            {
                ["replicas"] = 0,
                ["serviceName"] = name,
                ["selector"] = selector,
                ["template"] = Template(name, images, init, serviceAccount, pullSecrets),
            }),
            "DaemonSet" => ("apps/v1", new JsonObject
            {
                ["selector"] = selector,
                ["template"] = Template(name, images, init, serviceAccount, pullSecrets),
            }),
            "Job" => ("batch/v1", new JsonObject
            {
                ["parallelism"] = 0,
                ["template"] = Template(name, images, init, serviceAccount, pullSecrets, "Never"),
            }),
            "CronJob" => ("batch/v1beta1", new JsonObject
            {
                ["schedule"] = "*/5 * * * *",
                ["suspend"] = true,
                ["jobTemplate"] = new JsonObject
                {
                    ["spec"] = new JsonObject { ["template"] = Template(name, images, init, serviceAccount, pullSecrets, "OnFailure") },
                },
            }),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "no idle shape for this kind"),
        };
        return new JsonObject { ["apiVersion"] = apiVersion, ["kind"] = kind, ["metadata"] = Metadata(ns, name, decorate), ["spec"] = spec };
    }

    private static JsonObject Metadata(string ns, string name, string? decorate)
    {
        var meta = new JsonObject { ["name"] = name, ["namespace"] = ns };
        if (decorate is not null)
        {
            meta["annotations"] = new JsonObject { ["cachier.mattmoor.io/decorate"] = decorate };
        }

        return meta;
    }

    private static JsonObject Template(string name, string[] images, string[]? init, string? serviceAccount, string[]? pullSecrets, string? restartPolicy = null)
    {
        var spec = new JsonObject
        {
            ["containers"] = Containers("c", images),
        };
        if (init is not null)
        {
            spec["initContainers"] = Containers("init", init);
        }

        if (serviceAccount is not null)
        {
            spec["serviceAccountName"] = serviceAccount;
        }

        if (pullSecrets is not null)
        {
            spec["imagePullSecrets"] = new JsonArray(pullSecrets.Select(s => (JsonNode)new JsonObject { ["name"] = s }).ToArray());
        }

        if (restartPolicy is not null)
        {
            spec["restartPolicy"] = restartPolicy;
        }

        return new JsonObject
        {
            ["metadata"] = new JsonObject { ["labels"] = new JsonObject { ["app"] = name } },
            ["spec"] = spec,
        };
    }

    private static JsonArray Containers(string prefix, string[] images) =>
        new(images.Select((image, i) => (JsonNode)new JsonObject { ["name"] = $"{prefix}{i}", ["image"] = image }).ToArray());
}
