using System.Text.Json;
using Cachier.Domain;

namespace Cachier.Kubernetes;

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
