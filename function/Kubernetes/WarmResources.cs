using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Cachier.Domain;
using static Cachier.Domain.WorkloadReader;

namespace Cachier.Kubernetes;

/// <summary>
/// Pure: API objects (nodes, Images, pull pods, owners) to the warmer's records, and the pull pod and Image
/// status it writes. The objects are read as JSON documents: the warmer needs a handful of their fields.
/// </summary>
public static partial class WarmResources
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
}
