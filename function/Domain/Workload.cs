using System.Text.Json;

namespace Cachier.Domain;

/// <summary>Which object an event is about: enough to find it, never enough to trust it.</summary>
public sealed record WorkloadRef(string ApiVersion, string Kind, string Namespace, string Name)
{
    public override string ToString() => $"{Kind} {Namespace}/{Name}";
}

/// <summary>
/// Cachier's narrow projection of a workload: everything the plan depends on, and nothing else.
/// Built from the API object by <see cref="WorkloadReader"/> (below); the planner never sees JSON.
/// </summary>
public sealed record Workload(
    string ApiVersion,
    string Kind,
    string Namespace,
    string Name,
    string Uid,
    long Generation,
    string? Decorate,
    bool HasController,
    PodTemplate? Pod)
{
    public WorkloadRef Ref => new(ApiVersion, Kind, Namespace, Name);
}

/// <summary>The parts of a pod spec that end up in Images. <c>null</c> Pod = no pod spec shape found.</summary>
public sealed record PodTemplate(
    IReadOnlyList<string> Images,
    string? ServiceAccountName,
    IReadOnlyList<string> ImagePullSecrets)
{
    /// <summary>Where a pod spec may live, in order: PodSpecable duck type, CronJob, Pod.</summary>
    public const string Shapes = "spec.template.spec, spec.jobTemplate.spec.template.spec or spec.containers";
}

/// <summary>One Image as Cachier wants it to be.</summary>
public sealed record DesiredImage(
    string Name,
    string Image,
    string? ServiceAccountName,
    IReadOnlyList<string> ImagePullSecrets);

/// <summary>
/// The complete desired state for one workload: every field the Image objects carry. <paramref name="Applies"/> false:
/// the object has no pod spec, so Images are none of its business (ignored, nothing listed or deleted).
/// </summary>
public sealed record ImagePlan(
    Workload Owner,
    bool Cache,
    string Reason,
    IReadOnlyList<DesiredImage> Images,
    bool Applies = true)
{
    public string GenerationLabel => Owner.Generation.ToString("D5", System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>What Cachier knows of an existing Image: only what the diff needs (a small constant per Image).</summary>
public sealed record ImageState(
    string Namespace,
    string Name,
    string Uid,
    string ResourceVersion,
    string? ControllerLabel,
    string? OwnerUid,
    long? Generation,
    bool Managed,
    string Image,
    string? ServiceAccountName,
    IReadOnlyList<string> ImagePullSecrets)
{
    public bool BelongsTo(string workloadUid) => ControllerLabel == workloadUid || OwnerUid == workloadUid;

    public bool SameSpec(DesiredImage desired) =>
        Image == desired.Image && ServiceAccountName == desired.ServiceAccountName && ImagePullSecrets.SequenceEqual(desired.ImagePullSecrets);
}

/// <summary>Projects an API object (any kind) onto <see cref="Workload"/>. Pure; finds the pod spec by shape.</summary>
public static class WorkloadReader
{
    /// <param name="listedAs">the kind asked for: items of a LIST of built-in kinds carry no apiVersion/kind.</param>
    /// <exception cref="FormatException">the object lacks the metadata every API object has.</exception>
    public static Workload Read(JsonElement obj, ResourceKind? listedAs = null)
    {
        if (obj.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException("the object is not a JSON object");
        }

        var metadata = Property(obj, "metadata");
        string Required(JsonElement? parent, string name, string path) =>
            String(parent, name) is { Length: > 0 } s ? s : throw new FormatException($"the object has no {path}");

        return new Workload(
            String(obj, "apiVersion") ?? listedAs?.ApiVersion ?? Required(obj, "apiVersion", "apiVersion"),
            String(obj, "kind") ?? listedAs?.Kind ?? Required(obj, "kind", "kind"),
            String(metadata, "namespace") ?? "",
            Required(metadata, "name", "metadata.name"),
            Required(metadata, "uid", "metadata.uid"),
            Property(metadata, "generation") is { ValueKind: JsonValueKind.Number } g && g.TryGetInt64(out var gen) ? gen : 0,
            String(Property(metadata, "annotations"), ImagePlanner.DecorateAnnotation),
            HasController(Property(metadata, "ownerReferences")),
            ReadPod(FindPodSpec(obj)));
    }

    internal static JsonElement? FindPodSpec(JsonElement obj)
    {
        var spec = Property(obj, "spec");
        JsonElement?[] candidates =
        [
            Walk(spec, "template", "spec"),
            Walk(spec, "jobTemplate", "spec", "template", "spec"),
            spec,
        ];
        return candidates.FirstOrDefault(c => Property(c, "containers") is not null);
    }

    private static JsonElement? Walk(JsonElement? from, params string[] path) =>
        path.Aggregate(from, (element, name) => Property(element, name));

    private static PodTemplate? ReadPod(JsonElement? pod)
    {
        if (pod is null)
        {
            return null;
        }

        var images = new List<string>();
        foreach (var list in new[] { "initContainers", "containers" })
        {
            foreach (var container in Items(Property(pod, list)))
            {
                if (String(container, "image") is { Length: > 0 } image)
                {
                    images.Add(image);
                }
            }
        }

        var secrets = Items(Property(pod, "imagePullSecrets"))
            .Select(s => String(s, "name"))
            .OfType<string>()
            .Where(n => n.Length > 0)
            .ToList();
        return new PodTemplate(images, String(pod, "serviceAccountName") is { Length: > 0 } sa ? sa : null, secrets);
    }

    private static bool HasController(JsonElement? ownerReferences) =>
        Items(ownerReferences).Any(o => Property(o, "controller") is { ValueKind: JsonValueKind.True });

    internal static IEnumerable<JsonElement> Items(JsonElement? array) =>
        array is { ValueKind: JsonValueKind.Array } a ? a.EnumerateArray() : [];

    internal static JsonElement? Property(JsonElement? parent, string name) =>
        parent is { ValueKind: JsonValueKind.Object } p && p.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null
            ? v
            : null;

    internal static string? String(JsonElement? parent, string name) =>
        Property(parent, name) is { ValueKind: JsonValueKind.String } v ? v.GetString() : null;
}
