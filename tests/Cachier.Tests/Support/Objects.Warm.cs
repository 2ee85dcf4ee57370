using System.Text.Json.Nodes;

namespace Cachier.Tests.Support;

/// <summary>The warmer's objects (SPEC 11): nodes, pods and Images with status as the API server serves them, and the pull pod it must create.</summary>
public static partial class Objects
{
    /// <summary>The annotation prefix of a node's record in an Image's status (one per node).</summary>
    public const string NodeRecordPrefix = "node.warm.cachier.dev/";

    /// <summary>A Ready Linux node, as a cluster LIST returns it.</summary>
    public static JsonObject ClusterNode(string name, JsonArray? taints = null, bool ready = true, string[]? images = null)
    {
        var spec = new JsonObject { ["podCIDR"] = "10.244.1.0/24" };
        if (taints is not null)
        {
            spec["taints"] = taints;
        }

        return new JsonObject
        {
            ["metadata"] = new JsonObject
            {
                ["name"] = name,
                ["uid"] = "node-uid-" + name,
                ["resourceVersion"] = "1000",
                ["labels"] = new JsonObject { ["kubernetes.io/hostname"] = name, ["kubernetes.io/os"] = "linux", ["kubernetes.io/arch"] = "amd64" },
            },
            ["spec"] = spec,
            ["status"] = new JsonObject
            {
                ["conditions"] = new JsonArray(
                    new JsonObject { ["type"] = "MemoryPressure", ["status"] = "False", ["reason"] = "KubeletHasSufficientMemory" },
                    new JsonObject { ["type"] = "Ready", ["status"] = ready ? "True" : "False", ["reason"] = ready ? "KubeletReady" : "KubeletNotReady" }),
                ["nodeInfo"] = new JsonObject { ["operatingSystem"] = "linux", ["architecture"] = "amd64" },
                ["images"] = new JsonArray((images ?? ["registry.k8s.io/pause:3.10"]).Select(i => (JsonNode)new JsonObject
                {
                    ["names"] = new JsonArray(i),
                    ["sizeBytes"] = 1234567,
                }).ToArray()),
            },
        };
    }

    public static JsonArray Taint(string key, string value, string effect) =>
        new(new JsonObject { ["key"] = key, ["value"] = value, ["effect"] = effect });

    public static JsonObject List(string apiVersion, string kind, params JsonNode[] items) => new()
    {
        ["apiVersion"] = apiVersion,
        ["kind"] = kind,
        ["metadata"] = new JsonObject { ["resourceVersion"] = "900" },
        ["items"] = new JsonArray(items.Select(i => i.DeepClone()).ToArray()),
    };

    /// <summary>An Image (<see cref="Image"/>) with a status as the warmer writes it.</summary>
    public static JsonObject WithStatus(JsonObject image, JsonObject status)
    {
        var copy = image.DeepClone().AsObject();
        copy["status"] = status.DeepClone();
        return copy;
    }

    /// <summary>A pod the app created, as the API server lists it later: uid, creation time, defaults, a status.</summary>
    public static JsonObject Listed(JsonObject created, string uid, string creationTimestamp, JsonObject status)
    {
        var pod = created.DeepClone().AsObject();
        pod["metadata"]!["uid"] = uid;
        pod["metadata"]!["resourceVersion"] = "3000";
        pod["metadata"]!["creationTimestamp"] = creationTimestamp;
        pod["spec"]!["serviceAccountName"] ??= "default";
        pod["spec"]!["schedulerName"] = "default-scheduler";
        pod["status"] = status;
        return pod;
    }

    public static JsonObject ContainerStatus(string name, string image, JsonObject state, string imageId = "") => new()
    {
        ["name"] = name,
        ["image"] = image,
        ["imageID"] = imageId,
        ["ready"] = false,
        ["restartCount"] = 0,
        ["state"] = state,
    };

    /// <summary>
    /// The pull pod of SPEC 11, complete: pinned to the node, the Image's credentials, no token, Pod Security
    /// <c>restricted</c>, minimal resources, a deadline, the helper's no-op copied in by an init container.
    /// </summary>
    public static JsonObject PullPod(string ns, string node, string[] images, string? serviceAccount = null, string[]? pullSecrets = null,
        JsonArray? tolerations = null)
    {
        static JsonObject Container(string name, string image, JsonArray command, bool readOnly) => new()
        {
            ["name"] = name,
            ["image"] = image,
            ["imagePullPolicy"] = "IfNotPresent",
            ["command"] = command,
            ["volumeMounts"] = new JsonArray(new JsonObject { ["name"] = "warm", ["mountPath"] = "/warm", ["readOnly"] = readOnly }),
            ["resources"] = new JsonObject
            {
                ["requests"] = new JsonObject { ["cpu"] = "5m", ["memory"] = "8Mi" },
                ["limits"] = new JsonObject { ["cpu"] = "100m", ["memory"] = "32Mi" },
            },
            ["securityContext"] = new JsonObject
            {
                ["allowPrivilegeEscalation"] = false,
                ["readOnlyRootFilesystem"] = true,
                ["capabilities"] = new JsonObject { ["drop"] = new JsonArray("ALL") },
            },
        };

        var spec = new JsonObject
        {
            ["nodeName"] = node,
            ["restartPolicy"] = "Never",
            ["automountServiceAccountToken"] = false,
            ["enableServiceLinks"] = false,
            ["activeDeadlineSeconds"] = 600,
            ["terminationGracePeriodSeconds"] = 1,
            ["securityContext"] = new JsonObject
            {
                ["runAsNonRoot"] = true,
                ["runAsUser"] = 65532,
                ["runAsGroup"] = 65532,
                ["seccompProfile"] = new JsonObject { ["type"] = "RuntimeDefault" },
            },
            ["initContainers"] = new JsonArray(Container("helper", "busybox:1.36-musl", new JsonArray("/bin/cp", "/bin/true", "/warm/true"), false)),
            ["containers"] = new JsonArray(images.Select((image, i) => (JsonNode)Container($"warm-{i}", image, new JsonArray("/warm/true"), true)).ToArray()),
            ["volumes"] = new JsonArray(new JsonObject { ["name"] = "warm", ["emptyDir"] = new JsonObject { ["sizeLimit"] = "16Mi" } }),
        };
        if (serviceAccount is not null)
        {
            spec["serviceAccountName"] = serviceAccount;
        }

        if (pullSecrets is { Length: > 0 })
        {
            spec["imagePullSecrets"] = new JsonArray(pullSecrets.Select(s => (JsonNode)new JsonObject { ["name"] = s }).ToArray());
        }

        if (tolerations is not null)
        {
            spec["tolerations"] = tolerations.DeepClone();
        }

        return new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Pod",
            ["metadata"] = new JsonObject
            {
                ["name"] = ExpectedNames.PullPod(node, serviceAccount, pullSecrets, images),
                ["namespace"] = ns,
                ["labels"] = new JsonObject { ["app.kubernetes.io/managed-by"] = "cachier-warmer", ["warm.cachier.dev/scope"] = "e3b0c44298" },
                ["annotations"] = new JsonObject
                {
                    ["warm.cachier.dev/node"] = node,
                    ["warm.cachier.dev/credentials"] = (serviceAccount is null or "default" ? "" : serviceAccount) + "|" + string.Join(',', pullSecrets ?? []),
                },
            },
            ["spec"] = spec,
        };
    }
}
