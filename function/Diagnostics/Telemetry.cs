using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Cachier.Diagnostics;

/// <summary>Cachier's instruments (System.Diagnostics.Metrics); written at <c>/metrics</c> by <see cref="MetricsText"/>.</summary>
public static class Telemetry
{
    public const string MeterName = "Cachier";

    /// <summary>Histogram buckets for durations in seconds: a reconcile is milliseconds, a resync minutes.</summary>
    public static readonly double[] SecondsBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

    private static readonly Meter Meter = new(MeterName);

    private static readonly Counter<long> Events = Meter.CreateCounter<long>("cachier.events.handled", "{event}", "CloudEvents handled, by type and outcome");
    private static readonly Histogram<double> EventDuration = Meter.CreateHistogram<double>("cachier.event.duration", "s", "Time to handle one CloudEvent (a workload event, a resync, a warm pass), by outcome");
    private static readonly Counter<long> ImagesWritten = Meter.CreateCounter<long>("cachier.images.written", "{image}", "Images written (for events and by resyncs), by operation (created, updated, deleted)");
    private static readonly Counter<long> ApiRequests = Meter.CreateCounter<long>("cachier.api.requests", "{request}", "API-server requests, by resource, verb and status code (0 = no answer)");
    private static readonly Histogram<double> ApiDuration = Meter.CreateHistogram<double>("cachier.api.request.duration", "s", "API-server request latency, by verb");
    private static readonly Counter<long> ResyncRuns = Meter.CreateCounter<long>("cachier.resync.runs", "{run}", "Resyncs run, by result");
    private static readonly Histogram<double> ResyncDuration = Meter.CreateHistogram<double>("cachier.resync.duration", "s", "Duration of a full resync");
    private static readonly Counter<long> WorkloadEvents = Meter.CreateCounter<long>("cachier.kubernetes.events", "{event}", "Kubernetes Events on workloads, by result (created, aggregated, dropped, failed)");
    private static readonly Counter<long> LogLinesDropped = Meter.CreateCounter<long>("cachier.log.lines.dropped", "{line}", "Log lines dropped because stdout was not drained (more than 1 MiB waiting)");
    private static readonly Counter<long> ResyncRepaired = Meter.CreateCounter<long>("cachier.resync.images.repaired", "{image}", "Images written (created, updated, deleted) by resyncs to repair drift");

    /// <summary>
    /// Bound of the series per instrument: a label taken from a request (the event type) must not grow memory without
    /// bound; the measurements past it are summed in one overflow series. Far above the real cardinality.
    /// </summary>
    public const int MaxSeries = 256;

    public static void Event(string type, string outcome, long startedTimestamp)
    {
        Events.Add(1, new("type", type), new("outcome", outcome));
        EventDuration.Record(Stopwatch.GetElapsedTime(startedTimestamp).TotalSeconds, new KeyValuePair<string, object?>("outcome", outcome));
    }

    public static void Images(int created, int updated, int deleted)
    {
        Add(created, "created");
        Add(updated, "updated");
        Add(deleted, "deleted");

        static void Add(int count, string operation)
        {
            if (count > 0)
            {
                ImagesWritten.Add(count, new KeyValuePair<string, object?>("operation", operation));
            }
        }
    }

    public static void ApiRequest(string verb, string path, int status, long startedTimestamp)
    {
        ApiRequests.Add(1, new("resource", ApiResource(path)), new("verb", verb), new("code", status));
        ApiDuration.Record(Stopwatch.GetElapsedTime(startedTimestamp).TotalSeconds, new KeyValuePair<string, object?>("verb", verb));
    }

    public static void Resync(string result, TimeSpan duration, int drift)
    {
        ResyncRuns.Add(1, new KeyValuePair<string, object?>("result", result));
        ResyncDuration.Record(duration.TotalSeconds);
        ResyncRepaired.Add(drift);
    }

    public static void LogLineDropped() => LogLinesDropped.Add(1);

    /// <summary>
    /// The resource a request path names, from a fixed set so that the label stays small whatever is configured:
    /// <c>/apis/caching.internal.knative.dev/v1alpha1/namespaces/ns/images?...</c> is <c>images</c>,
    /// <c>/api/v1/namespaces/ns/events</c> <c>events</c>; a path naming no resource (API discovery, the issuer's
    /// keys) is <c>discovery</c>; any resource not in the set (a custom kind) is <c>other</c>.
    /// </summary>
    public static string ApiResource(string path)
    {
        var rest = path.AsSpan();
        if (rest.IndexOfAny('?', '#') is var query and >= 0)
        {
            rest = rest[..query];
        }

        // Past the root: /api/<version> or /apis/<group>/<version>.
        var root = rest.StartsWith("/api/") ? 2 : rest.StartsWith("/apis/") ? 3 : -1;
        if (root < 0)
        {
            return "discovery";
        }

        ReadOnlySpan<char> first = default, third = default;
        var index = 0;
        foreach (var range in rest[1..].Split('/'))
        {
            if (index == root)
            {
                first = rest[1..][range];
            }
            else if (index == root + 2)
            {
                third = rest[1..][range];
                break;
            }

            index++;
        }

        // namespaces/<ns>/<resource> names the resource in the namespace; namespaces or namespaces/<ns> the namespaces.
        var resource = first is "namespaces" && !third.IsEmpty ? third : first;
        return resource switch
        {
            "" => "discovery",
            "images" => "images",
            "events" => "events",
            "pods" => "pods",
            "nodes" => "nodes",
            "namespaces" => "namespaces",
            "deployments" => "deployments",
            "replicasets" => "replicasets",
            "statefulsets" => "statefulsets",
            "daemonsets" => "daemonsets",
            "jobs" => "jobs",
            "cronjobs" => "cronjobs",
            "replicationcontrollers" => "replicationcontrollers",
            _ => "other",
        };
    }

    public static void WorkloadEvent(string result) => WorkloadEvents.Add(1, new KeyValuePair<string, object?>("result", result));
}
