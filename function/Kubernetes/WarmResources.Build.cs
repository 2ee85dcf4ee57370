using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Cachier.Domain;
using static Cachier.Domain.WorkloadReader;

namespace Cachier.Kubernetes;

/// <summary>What the warmer writes: the pull pod, the Image status patch, the per-node records.</summary>
public static partial class WarmResources
{
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
