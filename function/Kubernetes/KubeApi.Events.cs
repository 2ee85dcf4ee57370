using System.Text.Json.Serialization;
using Cachier.Reconcile;

namespace Cachier.Kubernetes;

/// <summary>
/// core/v1 Events on workloads (<see cref="EventRecorder"/>). core/v1 rather than events.k8s.io/v1: both are served from
/// one store on the 1.20 API server, but core/v1 is what client-go's recorder writes and what its EventCorrelator
/// aggregates (a PATCH of <c>count</c> and <c>lastTimestamp</c>, which <c>kubectl describe</c> shows as "x3 over 5m"),
/// and it is served by every API server Cachier supports; events.k8s.io/v1 would need its series semantics as well.
/// </summary>
public sealed partial class KubeApi
{
    public Task<WriteResult> CreateEventAsync(CoreEvent ev, CancellationToken ct) =>
        WriteAsync(HttpMethod.Post, $"/api/v1/namespaces/{ev.Metadata.Namespace}/events", Content(ev, EventJson.Default.CoreEvent, Json), ct);

    /// <summary>One more occurrence of an Event already written: its count and last time (a merge patch, as small as it gets).</summary>
    public Task<WriteResult> AggregateEventAsync(string ns, string name, int count, DateTimeOffset last, CancellationToken ct) =>
        WriteAsync(HttpMethod.Patch, $"/api/v1/namespaces/{ns}/events/{name}",
            Content(new EventCountPatch(count, EventTime.Format(last)), EventJson.Default.EventCountPatch, MergePatch), ct);
}

/// <summary>A core/v1 Event, with the fields client-go's recorder sets.</summary>
public sealed record CoreEvent(
    EventMeta Metadata,
    InvolvedObject InvolvedObject,
    string Reason,
    string Message,
    string Type,
    EventSource Source,
    string FirstTimestamp,
    string LastTimestamp,
    int Count,
    string ReportingComponent,
    string ReportingInstance)
{
    public string ApiVersion => "v1";

    public string Kind => "Event";
}

public sealed record EventMeta(string Name, string Namespace);

public sealed record InvolvedObject(string ApiVersion, string Kind, string Namespace, string Name, string Uid);

public sealed record EventSource(string Component);

public sealed record EventCountPatch(int Count, string LastTimestamp);

public static class EventTime
{
    /// <summary>metav1.Time's wire form: RFC 3339 in UTC, whole seconds.</summary>
    public static string Format(DateTimeOffset time) =>
        time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(CoreEvent))]
[JsonSerializable(typeof(EventCountPatch))]
internal sealed partial class EventJson : JsonSerializerContext;
