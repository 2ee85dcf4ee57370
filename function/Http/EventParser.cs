using System.Text.Json;
using Cachier.Configuration;
using Cachier.Domain;
using Cachier.Reconcile;
using CloudNative.CloudEvents;

namespace Cachier.Http;

/// <summary>What an inbound CloudEvent asks for, in Cachier's own terms.</summary>
public abstract record Inbound(string Type)
{
    /// <summary>The event's W3C <c>traceparent</c> (distributed tracing extension), for the log line; null when absent.</summary>
    public string? TraceParent { get; init; }
}

public sealed record WorkloadInbound(string Type, WorkloadEvent Event) : Inbound(Type);

public sealed record ResyncInbound(string Type) : Inbound(Type);

public sealed record IgnoredInbound(string Type, WorkloadRef? Ref, string Reason) : Inbound(Type);

/// <summary>An event that asks the warmer for a pass: an Image, Node or pull pod changed, or a ping. <paramref name="Node"/>: the node a Node event names.</summary>
public sealed record WarmInbound(string Type, string? Kind, string? Node = null) : Inbound(Type);

/// <summary>A CloudEvent that names no workload, or names it badly: answered with 400.</summary>
public sealed class BadEventException(string message) : Exception(message);

/// <summary>Turns a CloudEvent into an <see cref="Inbound"/> at once; nothing past here sees a CloudEvent.</summary>
public static class EventParser
{
    public const string ResourcePrefix = "dev.knative.apiserver.resource.";
    public const string RefPrefix = "dev.knative.apiserver.ref.";
    public const string PingType = "dev.knative.sources.ping";

    /// <exception cref="BadEventException">the event names no workload, or names it with invalid values.</exception>
    public static Inbound Parse(CloudEvent cloudEvent, CachierSettings settings)
    {
        var inbound = ParseAction(cloudEvent, settings);
        // Copied only when there is one: an event without it costs nothing more.
        return TraceParent(cloudEvent) is { } trace ? inbound with { TraceParent = trace } : inbound;
    }

    /// <summary>
    /// The <c>traceparent</c> extension if it has the W3C form (<c>00-&lt;32 hex&gt;-&lt;16 hex&gt;-&lt;2 hex&gt;</c>); anything
    /// else a sender put there is not written to the log.
    /// </summary>
    public static string? TraceParent(CloudEvent cloudEvent)
    {
        if (cloudEvent["traceparent"] is not string { Length: 55 } value || value[2] != '-' || value[35] != '-' || value[52] != '-')
        {
            return null;
        }

        for (var i = 0; i < value.Length; i++)
        {
            if (i is not (2 or 35 or 52) && !char.IsAsciiHexDigitLower(value[i]))
            {
                return null;
            }
        }

        return value;
    }

    private static Inbound ParseAction(CloudEvent cloudEvent, CachierSettings settings)
    {
        if (settings.IsWarmer)
        {
            return WarmerEvents.Parse(cloudEvent);
        }

        var type = cloudEvent.Type ?? "";
        if (type == PingType)
        {
            return new ResyncInbound(type);
        }

        var resource = type.StartsWith(ResourcePrefix, StringComparison.Ordinal);
        if (!resource && !type.StartsWith(RefPrefix, StringComparison.Ordinal))
        {
            return new IgnoredInbound(type, null, $"event type '{type}' is not handled");
        }

        var verb = type[(resource ? ResourcePrefix : RefPrefix).Length..];
        WorkloadAction action = verb switch
        {
            "add" => WorkloadAction.Add,
            "update" => WorkloadAction.Update,
            "delete" => WorkloadAction.Delete,
            _ => throw new BadEventException($"event type '{type}' has an unknown operation '{verb}' (add, update or delete)"),
        };

        var data = cloudEvent.Data is JsonElement { ValueKind: JsonValueKind.Object } element ? element : (JsonElement?)null;
        var metadata = resource ? Child(data, "metadata") : data;
        var target = new WorkloadRef(
            Identify(cloudEvent, "apiversion", data, "apiVersion"),
            Identify(cloudEvent, "kind", data, "kind"),
            Identify(cloudEvent, "namespace", metadata, "namespace"),
            Identify(cloudEvent, "name", metadata, "name"));
        if (!Names.IsDnsLabel(target.Namespace))
        {
            throw new BadEventException($"namespace '{Clip(target.Namespace)}' is not a valid namespace name");
        }

        if (!Names.IsDnsSubdomain(target.Name))
        {
            throw new BadEventException($"name '{Clip(target.Name)}' is not a valid object name");
        }

        if (ResourceKind.Find(settings.Kinds, target.ApiVersion, target.Kind) is not { } kind)
        {
            return new IgnoredInbound(type, target, $"kind {Clip(target.Kind)} of {Clip(target.ApiVersion)} is not configured");
        }

        if (!resource || action == WorkloadAction.Delete)
        {
            return new WorkloadInbound(type, new WorkloadEvent(action, kind, target, null));
        }

        if (data is null)
        {
            throw new BadEventException($"a {type} event must carry the object as JSON data");
        }

        Workload workload;
        try
        {
            workload = WorkloadReader.Read(data.Value);
        }
        catch (FormatException e)
        {
            throw new BadEventException($"data is not a Kubernetes object: {e.Message}");
        }

        if (!Names.IsUid(workload.Uid))
        {
            // It would become a label value and a label selector: the API server would answer 422 or 400.
            throw new BadEventException($"metadata.uid '{Clip(workload.Uid)}' is not a Kubernetes uid");
        }

        if (workload.Ref != target)
        {
            throw new BadEventException($"data is {Clip(workload.Ref.ToString())} ({Clip(workload.ApiVersion)}) but the event names {target} ({target.ApiVersion})");
        }

        return new WorkloadInbound(type, new WorkloadEvent(action, kind, target, workload));
    }

    /// <summary>The extension attribute first (what the adapter always sets), then the data. Never the subject.</summary>
    private static string Identify(CloudEvent cloudEvent, string extension, JsonElement? data, string property)
    {
        if (cloudEvent[extension] is { } value)
        {
            return value as string ?? throw new BadEventException($"extension '{extension}' must be a string");
        }

        return Child(data, property) switch
        {
            { ValueKind: JsonValueKind.String } s when s.GetString() is { Length: > 0 } text => text,
            null => throw new BadEventException($"the event names no workload: no '{extension}' extension and no '{property}' in data"),
            _ => throw new BadEventException($"data '{property}' must be a non-empty string"),
        };
    }

    internal static JsonElement? Child(JsonElement? parent, string name) =>
        parent is { ValueKind: JsonValueKind.Object } p && p.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    /// <summary>Echo hostile input back only in a bounded, printable form.</summary>
    private static string Clip(string value)
    {
        var printable = new string(value.Take(80).Select(c => char.IsControl(c) ? '?' : c).ToArray());
        return value.Length > 80 ? printable + "..." : printable;
    }
}

/// <summary>
/// The warmer's events (SPEC 11). The warmer is level-based: an event only says "look again", and nothing it
/// carries is trusted beyond its type, kind and a node's name (which node to read again), so a forged event can at
/// most cause one more read or pass.
/// </summary>
public static class WarmerEvents
{
    public static Inbound Parse(CloudEvent cloudEvent)
    {
        var type = cloudEvent.Type ?? "";
        if (type == EventParser.PingType)
        {
            return new WarmInbound(type, null);
        }

        if (!type.StartsWith(EventParser.RefPrefix, StringComparison.Ordinal) && !type.StartsWith(EventParser.ResourcePrefix, StringComparison.Ordinal))
        {
            return new IgnoredInbound(type, null, $"event type '{type}' is not handled");
        }

        return cloudEvent["kind"] switch
        {
            "Node" => new WarmInbound(type, "Node", NodeName(cloudEvent)),
            "Image" or "Pod" => new WarmInbound(type, (string)cloudEvent["kind"]!),
            _ => new IgnoredInbound(type, null, "the warmer acts on Image, Node and Pod events only"),
        };
    }

    /// <summary>The <c>name</c> extension, else the data's (Reference mode) or its <c>metadata</c>'s; null (a pass) unless a valid name.</summary>
    private static string? NodeName(CloudEvent cloudEvent)
    {
        var data = cloudEvent.Data is JsonElement element ? element : (JsonElement?)null;
        var inData = EventParser.Child(data, "name") ?? EventParser.Child(EventParser.Child(data, "metadata"), "name");
        var name = cloudEvent["name"] as string ?? (inData is { ValueKind: JsonValueKind.String } n ? n.GetString() : null);
        return name is not null && Names.IsDnsSubdomain(name) ? name : null;
    }
}
