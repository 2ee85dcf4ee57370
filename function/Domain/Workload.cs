using System.Security.Cryptography;
using System.Text;
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

/// <summary>A watched kind: its API version and where its objects are (how it is written in configuration: <c>ResourceKind.cs</c>).</summary>
public sealed partial record ResourceKind(string Kind, string Version, string Group, string Plural)
{
    public string ApiVersion => Group.Length == 0 ? Version : $"{Group}/{Version}";

    /// <summary>The kind of <paramref name="kinds"/> (the configured ones) with exactly this API version and kind; null if none.</summary>
    public static ResourceKind? Find(IEnumerable<ResourceKind> kinds, string apiVersion, string kind) =>
        kinds.FirstOrDefault(k => k.ApiVersion == apiVersion && k.Kind == kind);

    /// <summary>The collection path, cluster-wide or in one namespace.</summary>
    public string CollectionPath(string? ns = null)
    {
        var root = Group.Length == 0 ? $"/api/{Version}" : $"/apis/{Group}/{Version}";
        return ns is null ? $"{root}/{Plural}" : $"{root}/namespaces/{ns}/{Plural}";
    }

    public override string ToString() =>
        (Group.Length == 0 ? $"{Kind}.{Version}" : $"{Kind}.{Version}.{Group}") + "/" + Plural;
}

/// <summary>Kubernetes name rules and the one place Image names are computed.</summary>
public static class Names
{
    private const int MaxLabel = 63;

    /// <summary>
    /// <c>prefix-h</c>: h = first 10 hex characters of SHA-256(uid + "/" + image); the workload name is cut so
    /// the whole name fits 63 characters. Deterministic, so redelivered and concurrent events can never
    /// create a second Image for the same (workload, image).
    /// </summary>
    public static string ImageName(string workloadName, string workloadUid, string image)
    {
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{workloadUid}/{image}")))[..10];
        var prefix = workloadName.Length > MaxLabel - 11 ? workloadName[..(MaxLabel - 11)] : workloadName;
        prefix = prefix.TrimEnd('-', '.');
        return prefix.Length == 0 ? hash : $"{prefix}-{hash}";
    }

    /// <summary>RFC 1123 label: what a namespace name must be.</summary>
    public static bool IsDnsLabel(string? value) => value is { Length: <= MaxLabel } && IsLabelShaped(value);

    /// <summary>RFC 1123 subdomain as Kubernetes checks it: 253 characters in all, no limit per label.</summary>
    public static bool IsDnsSubdomain(string? value) =>
        value is { Length: > 0 and <= 253 } && value.Split('.').All(IsLabelShaped);

    /// <summary>
    /// What a uid must be to serve as the <c>controller</c> label value and selector (the API server's uids are UUIDs):
    /// a label value, 1..63 characters, alphanumeric at both ends, <c>-_.</c> inside. Anything else was made up.
    /// </summary>
    public static bool IsUid(string? value) =>
        value is { Length: > 0 and <= MaxLabel } && char.IsAsciiLetterOrDigit(value[0]) && char.IsAsciiLetterOrDigit(value[^1])
        && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');

    private static bool IsLabelShaped(string value) =>
        value.Length > 0 && IsAlnumLower(value[0]) && IsAlnumLower(value[^1])
        && value.All(c => IsAlnumLower(c) || c == '-');

    private static bool IsAlnumLower(char c) => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c);
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
