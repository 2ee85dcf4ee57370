using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Cachier.Domain;
using static Cachier.Kubernetes.WorkloadReader;

namespace Cachier.Kubernetes;

/// <summary>
/// Pure: API objects (nodes, Images, pull pods, owners) to the warmer's records, and the pull pod and Image
/// status it writes. The objects are read as JSON documents: the warmer needs a handful of their fields.
/// </summary>
public static class WarmResources
{
    public const string ManagedByValue = "cachier-warmer";
    public const string ScopeLabel = "warm.cachier.dev/scope";

    /// <summary>This warmer's pull pods: ours, and of its Image selector's scope.</summary>
    public static string PullPodSelector(string scope) => $"{ImageResources.ManagedBy}={ManagedByValue},{ScopeLabel}={scope}";
    public const string NodeAnnotation = "warm.cachier.dev/node";

    /// <summary>
    /// The credentials a pull pod was made for. Read back from here, not from the pod's spec: the ServiceAccount
    /// admission plugin copies the ServiceAccount's own imagePullSecrets onto a pod that names none.
    /// </summary>
    public const string CredentialsAnnotation = "warm.cachier.dev/credentials";
    public const string NodeRecordPrefix = "node.warm.cachier.dev/";
    private const string TimeFormat = "yyyy-MM-dd'T'HH:mm:ss'Z'";
    private const int MaxMessage = 200;

    public static WarmNode ReadNode(JsonElement node)
    {
        var meta = Property(node, "metadata");
        var status = Property(node, "status");
        var ready = Items(Property(status, "conditions")).Any(c => String(c, "type") == "Ready" && String(c, "status") == "True");
        var taints = Items(Property(Property(node, "spec"), "taints"))
            .Select(t => new Taint(String(t, "key") ?? "", String(t, "value"), String(t, "effect") ?? ""))
            .ToList();
        var images = Items(Property(status, "images"))
            .SelectMany(i => Items(Property(i, "names")))
            .Where(n => n.ValueKind == JsonValueKind.String)
            .Select(n => n.GetString()!)
            .ToHashSet(StringComparer.Ordinal);
        return new WarmNode(
            String(meta, "name") ?? throw new FormatException("a node has no metadata.name"),
            ready,
            Property(Property(node, "spec"), "unschedulable") is { ValueKind: JsonValueKind.True },
            StringMap(Property(meta, "labels")),
            taints,
            images);
    }

    public static WarmTarget ReadImage(JsonElement image)
    {
        var meta = Property(image, "metadata");
        var spec = Property(image, "spec");
        var owner = Items(Property(meta, "ownerReferences")).FirstOrDefault(o => Property(o, "controller") is { ValueKind: JsonValueKind.True });
        var ownerRef = owner.ValueKind == JsonValueKind.Object && String(owner, "apiVersion") is { } av && String(owner, "kind") is { } k
            && String(owner, "name") is { } n && String(owner, "uid") is { } u
            ? new OwnerRef(av, k, n, u)
            : null;
        var warm = new WarmImage(
            String(meta, "namespace") ?? "",
            String(meta, "name") ?? throw new FormatException("an Image has no metadata.name"),
            Property(meta, "generation") is { ValueKind: JsonValueKind.Number } g && g.TryGetInt64(out var gen) ? gen : 0,
            String(spec, "image") ?? "",
            String(spec, "serviceAccountName") is { Length: > 0 } sa ? sa : null,
            Items(Property(spec, "imagePullSecrets")).Select(s => String(s, "name")).OfType<string>().Where(s => s.Length > 0).ToList(),
            null,
            ReadStatus(Property(image, "status")));
        return new WarmTarget(warm, ownerRef);
    }

    /// <summary>The scheduling constraints of an owner's pod template (found by shape); null when it has none.</summary>
    public static Scheduling? ReadScheduling(JsonElement owner)
    {
        if (FindPodSpec(owner) is not { } pod)
        {
            return null;
        }

        var terms = Items(Property(Property(Property(Property(pod, "affinity"), "nodeAffinity"),
                "requiredDuringSchedulingIgnoredDuringExecution"), "nodeSelectorTerms"))
            .Select(t => new NodeSelectorTerm(Requirements(Property(t, "matchExpressions")), Requirements(Property(t, "matchFields"))))
            .ToList();
        var tolerations = Items(Property(pod, "tolerations"))
            .Select(t => new Toleration(String(t, "key"), String(t, "operator") ?? "Equal", String(t, "value"), String(t, "effect")))
            .ToList();
        return new Scheduling(StringMap(Property(pod, "nodeSelector")), terms, tolerations);
    }

    public static PullPod ReadPullPod(JsonElement pod)
    {
        var meta = Property(pod, "metadata");
        var spec = Property(pod, "spec");
        var status = Property(pod, "status");
        var phase = String(status, "phase");
        var states = Items(Property(status, "containerStatuses")).ToDictionary(s => String(s, "name") ?? "", s => s, StringComparer.Ordinal);
        var init = Items(Property(status, "initContainerStatuses")).FirstOrDefault();
        var initFailure = init.ValueKind == JsonValueKind.Object ? PullFailure(Property(Property(init, "state"), "waiting")) : null;
        var containers = Items(Property(spec, "containers")).Select(c =>
        {
            var image = String(c, "image") ?? "";
            if (!states.TryGetValue(String(c, "name") ?? "", out var s))
            {
                return new ContainerPull(image, PullState.Waiting, null, null);
            }

            var state = Property(s, "state");
            if (Property(state, "running") is not null || Property(state, "terminated") is not null
                || String(s, "imageID") is { Length: > 0 })
            {
                return new ContainerPull(image, PullState.Pulled, null, null);
            }

            var waiting = Property(state, "waiting");
            return PullFailure(waiting) is { } reason
                ? new ContainerPull(image, PullState.Failed, reason, Clip(String(waiting, "message")))
                : new ContainerPull(image, PullState.Waiting, null, null);
        }).ToList();
        var finished = phase is "Succeeded" or "Failed" || initFailure is not null;
        return new PullPod(
            String(meta, "namespace") ?? "",
            String(meta, "name") ?? "",
            String(meta, "uid") ?? "",
            String(spec, "nodeName") ?? "",
            String(Property(meta, "annotations"), CredentialsAnnotation) is { } key
                ? Credentials.Parse(key)
                : new Credentials(String(spec, "serviceAccountName") is { Length: > 0 } sa ? sa : null,
                    Items(Property(spec, "imagePullSecrets")).Select(s => String(s, "name")).OfType<string>().ToList()),
            DateTimeOffset.TryParse(String(meta, "creationTimestamp"), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var created) ? created : DateTimeOffset.MinValue,
            Property(meta, "deletionTimestamp") is not null,
            finished,
            initFailure is not null ? $"HelperImage{initFailure}" : String(status, "reason") is { Length: > 0 } r ? r : phase == "Failed" ? "PullPodFailed" : null,
            Clip(String(status, "message")),
            containers);
    }

    /// <summary>A waiting reason that means the kubelet could not get the image (it backs off by itself; we count one attempt).</summary>
    private static string? PullFailure(JsonElement? waiting) => String(waiting, "reason") switch
    {
        "ErrImagePull" or "ImagePullBackOff" => "ErrImagePull",
        "InvalidImageName" => "InvalidImageName",
        "ErrImageNeverPull" => "ErrImageNeverPull",
        "RegistryUnavailable" => "RegistryUnavailable",
        _ => null,
    };

    /// <summary>
    /// The pull pod (SPEC 11): pinned to the node, the Image's credentials, no token, Pod Security <c>restricted</c>,
    /// minimal resources, a deadline; an init container copies a static no-op from the helper image, and each
    /// container runs it with one warmed image as its root file system, so no code of the warmed image runs.
    /// </summary>
    public static JsonObject BuildPullPod(NewPullPod pod, PullPodTemplate template)
    {
        JsonObject Container(string name, string image, JsonArray command, bool readOnlyVolume) => new()
        {
            ["name"] = name,
            ["image"] = image,
            ["imagePullPolicy"] = "IfNotPresent",
            ["command"] = command,
            ["volumeMounts"] = new JsonArray(new JsonObject { ["name"] = "warm", ["mountPath"] = "/warm", ["readOnly"] = readOnlyVolume }),
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
            ["nodeName"] = pod.Node,
            ["restartPolicy"] = "Never",
            ["automountServiceAccountToken"] = false,
            ["enableServiceLinks"] = false,
            ["activeDeadlineSeconds"] = (long)template.Deadline.TotalSeconds,
            ["terminationGracePeriodSeconds"] = 1,
            ["securityContext"] = new JsonObject
            {
                ["runAsNonRoot"] = true,
                ["runAsUser"] = template.RunAsUser,
                ["runAsGroup"] = template.RunAsUser,
                ["seccompProfile"] = new JsonObject { ["type"] = "RuntimeDefault" },
            },
            ["initContainers"] = new JsonArray(Container("helper", template.HelperImage, Strings(template.HelperCommand), false)),
            ["containers"] = new JsonArray(pod.Images.Select((image, i) => (JsonNode)Container($"warm-{i}", image, Strings(["/warm/true"]), true)).ToArray()),
            ["volumes"] = new JsonArray(new JsonObject
            {
                ["name"] = "warm",
                ["emptyDir"] = new JsonObject { ["sizeLimit"] = "16Mi" },
            }),
        };
        if (pod.Credentials.ServiceAccountName is { } sa)
        {
            spec["serviceAccountName"] = sa;
        }

        if (pod.Credentials.ImagePullSecrets.Count > 0)
        {
            spec["imagePullSecrets"] = new JsonArray(pod.Credentials.ImagePullSecrets.Select(s => (JsonNode)new JsonObject { ["name"] = s }).ToArray());
        }

        if (pod.Scheduling.Tolerations.Count > 0)
        {
            spec["tolerations"] = new JsonArray(pod.Scheduling.Tolerations.Select(t => (JsonNode)Toleration(t)).ToArray());
        }

        return new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Pod",
            ["metadata"] = new JsonObject
            {
                ["name"] = pod.Name,
                ["namespace"] = pod.Namespace,
                ["labels"] = new JsonObject { [ImageResources.ManagedBy] = ManagedByValue, [ScopeLabel] = template.Scope },
                ["annotations"] = new JsonObject { [NodeAnnotation] = pod.Node, [CredentialsAnnotation] = pod.Credentials.Key },
            },
            ["spec"] = spec,
        };
    }

    /// <summary>A JSON patch that replaces the Image's whole status (the warmer is its only writer).</summary>
    public static JsonArray BuildStatusPatch(ImageStatus status)
    {
        var annotations = new JsonObject();
        foreach (var (node, record) in status.Nodes.OrderBy(n => n.Key, StringComparer.Ordinal))
        {
            annotations[NodeRecordPrefix + node] = FormatRecord(record);
        }

        var condition = new JsonObject
        {
            ["type"] = "Ready",
            ["status"] = status.Ready,
            ["reason"] = status.Reason,
            ["message"] = status.Message,
            ["lastTransitionTime"] = status.LastTransition?.UtcDateTime.ToString(TimeFormat, CultureInfo.InvariantCulture),
        };
        return new JsonArray(new JsonObject
        {
            ["op"] = "add",
            ["path"] = "/status",
            ["value"] = new JsonObject
            {
                ["observedGeneration"] = status.ObservedGeneration,
                ["conditions"] = new JsonArray(condition),
                ["annotations"] = annotations,
            },
        });
    }

    /// <summary><c>Pulled 2026-11-30T12:00:00Z</c>, <c>ErrImagePull 2026-11-30T12:00:00Z x2: message</c>.</summary>
    public static string FormatRecord(NodeRecord record) =>
        $"{record.State} {record.Since.UtcDateTime.ToString(TimeFormat, CultureInfo.InvariantCulture)}"
        + (record.Attempts > 0 ? $" x{record.Attempts}" : "")
        + (record.Message is { Length: > 0 } m ? $": {m}" : "");

    public static NodeRecord? ParseRecord(string text)
    {
        var colon = text.IndexOf(": ", StringComparison.Ordinal);
        var head = (colon < 0 ? text : text[..colon]).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (head.Length < 2 || !DateTimeOffset.TryParseExact(head[1], TimeFormat, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var since))
        {
            return null;
        }

        var attempts = head.Length > 2 && head[2].StartsWith('x') && int.TryParse(head[2][1..], CultureInfo.InvariantCulture, out var a) ? a : 0;
        return new NodeRecord(head[0], since, attempts, colon < 0 ? null : text[(colon + 2)..]);
    }

    private static ImageStatus ReadStatus(JsonElement? status)
    {
        if (status is null)
        {
            return ImageStatus.None;
        }

        var ready = Items(Property(status, "conditions")).FirstOrDefault(c => String(c, "type") == "Ready");
        var nodes = new Dictionary<string, NodeRecord>(StringComparer.Ordinal);
        if (Property(status, "annotations") is { ValueKind: JsonValueKind.Object } annotations)
        {
            foreach (var a in annotations.EnumerateObject())
            {
                if (a.Name.StartsWith(NodeRecordPrefix, StringComparison.Ordinal) && a.Value.ValueKind == JsonValueKind.String
                    && ParseRecord(a.Value.GetString()!) is { } record)
                {
                    nodes[a.Name[NodeRecordPrefix.Length..]] = record;
                }
            }
        }

        var hasReady = ready.ValueKind == JsonValueKind.Object;
        return new ImageStatus(
            hasReady ? String(ready, "status") : null,
            hasReady ? String(ready, "reason") : null,
            hasReady ? String(ready, "message") : null,
            hasReady && DateTimeOffset.TryParse(String(ready, "lastTransitionTime"), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t) ? t : null,
            Property(status, "observedGeneration") is { ValueKind: JsonValueKind.Number } g && g.TryGetInt64(out var gen) ? gen : 0,
            nodes);
    }

    private static List<NodeRequirement> Requirements(JsonElement? list) =>
        Items(list).Select(r => new NodeRequirement(
            String(r, "key") ?? "",
            String(r, "operator") ?? "",
            Items(Property(r, "values")).Where(v => v.ValueKind == JsonValueKind.String).Select(v => v.GetString()!).ToList())).ToList();

    private static Dictionary<string, string> StringMap(JsonElement? map) =>
        map is { ValueKind: JsonValueKind.Object } m
            ? m.EnumerateObject().Where(p => p.Value.ValueKind == JsonValueKind.String).ToDictionary(p => p.Name, p => p.Value.GetString()!, StringComparer.Ordinal)
            : new Dictionary<string, string>(StringComparer.Ordinal);

    private static JsonObject Toleration(Toleration t)
    {
        var o = new JsonObject { ["operator"] = t.Operator };
        if (t.Key is { Length: > 0 })
        {
            o["key"] = t.Key;
        }

        if (t.Value is { Length: > 0 })
        {
            o["value"] = t.Value;
        }

        if (t.Effect is { Length: > 0 })
        {
            o["effect"] = t.Effect;
        }

        return o;
    }

    private static JsonArray Strings(IEnumerable<string> values) => new(values.Select(v => (JsonNode)JsonValue.Create(v)).ToArray());

    private static string? Clip(string? message) =>
        message is null ? null : message.Length > MaxMessage ? message[..MaxMessage] + "..." : message;
}
