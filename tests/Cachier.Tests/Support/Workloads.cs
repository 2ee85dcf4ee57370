using System.Text.Json.Nodes;

namespace Cachier.Tests.Support;

/// <summary>Workload manifests to create on the real API server (it gives uids and generations; Objects builds what a fake serves).</summary>
public static class Workloads
{
    public static string Deployment(string ns, string name, string[] images, string[]? init = null,
        string? decorate = null, string? serviceAccount = null, string[]? pullSecrets = null, int replicas = 1) =>
        Manifest("apps/v1", "Deployment", ns, name, decorate, new JsonObject
        {
            ["replicas"] = replicas,
            ["selector"] = Selector(name),
            ["template"] = Template(name, images, init, serviceAccount, pullSecrets),
        }).ToJsonString();

    public static string StatefulSet(string ns, string name, string[] images, string serviceAccount, string[] pullSecrets) =>
        Manifest("apps/v1", "StatefulSet", ns, name, null, new JsonObject
        {
            ["serviceName"] = name,
            ["selector"] = Selector(name),
            ["template"] = Template(name, images, null, serviceAccount, pullSecrets),
        }).ToJsonString();

    public static string CronJob(string ns, string name, string[] images) =>
        Manifest("batch/v1beta1", "CronJob", ns, name, null, new JsonObject
        {
            ["schedule"] = "*/5 * * * *",
            ["jobTemplate"] = new JsonObject
            {
                ["spec"] = new JsonObject { ["template"] = Template(name, images, null, null, null, "OnFailure") },
            },
        }).ToJsonString();

    public static string Foo(string ns, string name, string[] images) =>
        Manifest("example.cachier.dev/v1", "Foo", ns, name, null, new JsonObject { ["template"] = Template(name, images, null, null, null) }).ToJsonString();

    /// <summary>
    /// A workload of any kind the tests watch that starts no pod (replicas 0, parallelism 0, suspended; a DaemonSet
    /// has no node to run on), as one item of a <c>kind: List</c>: many of them cost the cluster nothing but storage.
    /// </summary>
    public static JsonObject Idle(string kind, string ns, string name, string[] images, string[]? init = null,
        string? decorate = null, string? serviceAccount = null, string[]? pullSecrets = null)
    {
        var selector = Selector(name);
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
        return Manifest(apiVersion, kind, ns, name, decorate, spec);
    }

    private static JsonObject Manifest(string apiVersion, string kind, string ns, string name, string? decorate, JsonObject spec) =>
        new() { ["apiVersion"] = apiVersion, ["kind"] = kind, ["metadata"] = Metadata(ns, name, decorate), ["spec"] = spec };

    private static JsonObject Selector(string name) => new() { ["matchLabels"] = new JsonObject { ["app"] = name } };

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
