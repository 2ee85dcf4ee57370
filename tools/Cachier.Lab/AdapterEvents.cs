using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Cachier.Lab;

/// <summary>
/// One CloudEvent as a Knative source sends it in binary mode: every attribute a <c>Ce-</c> header, the data the body.
/// The id and time are fixed when the event is made, so every retry of it carries the same ones (as with sdk-go).
/// </summary>
public sealed record OutboundEvent(
    string Type, string Source, string? Subject, IReadOnlyList<KeyValuePair<string, string>> Extensions, string? Data, string What)
{
    public string Id { get; } = Guid.NewGuid().ToString();

    public DateTimeOffset Time { get; } = DateTimeOffset.UtcNow;
}

public enum SourceMode
{
    Reference,
    Resource,
}

/// <summary>
/// What the ApiServerSource adapter makes of a watch event (knative/eventing <c>pkg/adapter/apiserver/events/events.go</c>):
/// type, source (the API server address), subject (a guessed self link), the four extensions, and the data.
/// </summary>
public static class AdapterEvents
{
    public const string PingType = "dev.knative.sources.ping";

    private static readonly JsonSerializerOptions GoLike = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The event for a watch event (ADDED, MODIFIED, DELETED); null for anything else.</summary>
    public static OutboundEvent? FromWatch(string watchType, JsonObject obj, SourceMode mode, string source)
    {
        var action = watchType switch
        {
            "ADDED" => "add",
            "MODIFIED" => "update",
            "DELETED" => "delete",
            _ => null,
        };
        if (action is null)
        {
            return null;
        }

        var apiVersion = (string?)obj["apiVersion"] ?? "";
        var kind = (string?)obj["kind"] ?? "";
        var name = (string?)obj["metadata"]?["name"] ?? "";
        var ns = (string?)obj["metadata"]?["namespace"] ?? "";
        var (type, data) = mode == SourceMode.Reference
            ? ($"dev.knative.apiserver.ref.{action}", Reference(apiVersion, kind, ns, name))
            : ($"dev.knative.apiserver.resource.{action}", GoJson(obj));
        return new OutboundEvent(type, source, SelfLink(apiVersion, kind, ns, name),
            [new("apiversion", apiVersion), new("kind", kind), new("name", name), new("namespace", ns)],
            data, $"{kind} {(ns.Length > 0 ? ns + "/" : "")}{name}");
    }

    /// <summary>A PingSource tick (<c>pkg/adapter/mtping/runner.go</c>): no subject, no extensions, no data unless configured.</summary>
    public static OutboundEvent Ping(string ns, string name) =>
        new(PingType, $"/apis/v1/namespaces/{ns}/pingsources/{name}", null, [], null, $"PingSource {ns}/{name}");

    /// <summary><c>corev1.ObjectReference</c> as Go marshals it: struct order, empty fields left out.</summary>
    public static string Reference(string apiVersion, string kind, string ns, string name)
    {
        var reference = new JsonObject { ["kind"] = kind };
        if (ns.Length > 0)
        {
            reference["namespace"] = ns;
        }

        reference["name"] = name;
        reference["apiVersion"] = apiVersion;
        return GoEscaped(reference.ToJsonString(GoLike));
    }

    /// <summary>
    /// JSON as Go's <c>json.Marshal</c> writes an unstructured object: object keys sorted at every level, compact, and
    /// only <c>&lt; &gt; &amp;</c> (and U+2028/U+2029) escaped in strings.
    /// </summary>
    public static string GoJson(JsonNode node) => GoEscaped(Sorted(node)!.ToJsonString(GoLike));

    private static string GoEscaped(string json) =>
        json
            .Replace("<", "\\u003c", StringComparison.Ordinal)
            .Replace(">", "\\u003e", StringComparison.Ordinal)
            .Replace("&", "\\u0026", StringComparison.Ordinal)
            .Replace("\u2028", "\\u2028", StringComparison.Ordinal)
            .Replace("\u2029", "\\u2029", StringComparison.Ordinal);

    /// <summary>
    /// <c>createSelfLink</c>: <c>/apis/&lt;apiVersion&gt;/namespaces/&lt;ns&gt;/&lt;plural&gt;/&lt;name&gt;</c> with the plural
    /// guessed from the kind (<c>meta.UnsafeGuessKindToResource</c>); <c>/apis/v1/...</c> for core kinds too.
    /// </summary>
    public static string SelfLink(string apiVersion, string kind, string ns, string name) =>
        ns.Length > 0
            ? $"/apis/{apiVersion}/namespaces/{ns}/{GuessPlural(kind)}/{name}"
            : $"/apis/{apiVersion}/{GuessPlural(kind)}/{name}";

    public static string GuessPlural(string kind)
    {
        var singular = kind.ToLowerInvariant();
        if (singular.Length == 0 || singular.EndsWith("endpoints", StringComparison.Ordinal))
        {
            return singular;
        }

        return singular[^1] switch
        {
            's' => singular + "es",
            'y' => singular[..^1] + "ies",
            _ => singular + "s",
        };
    }

    private static JsonNode? Sorted(JsonNode? node) => node switch
    {
        JsonObject obj => new JsonObject(obj.OrderBy(p => p.Key, StringComparer.Ordinal)
            .Select(p => KeyValuePair.Create(p.Key, Sorted(p.Value)))),
        JsonArray array => new JsonArray(array.Select(Sorted).ToArray()),
        _ => node?.DeepClone(),
    };
}
