using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace Cachier.Diagnostics;

/// <summary>Cachier's instruments (System.Diagnostics.Metrics), and what sums their measurements (<see cref="MetricsText"/>, written at <c>/metrics</c>).</summary>
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

    /// <summary>Bound of the series per instrument: a label taken from a request (the event type) must not grow memory
    /// without bound; the measurements past it are summed in one overflow series. Far above the real cardinality.</summary>
    public const int MaxSeries = 256;

    private static readonly HashSet<string> KnownResources = new(["images", "events", "pods", "nodes", "namespaces", "deployments",
        "replicasets", "statefulsets", "daemonsets", "jobs", "cronjobs", "replicationcontrollers"], StringComparer.Ordinal);

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
        rest = rest[..(rest.IndexOfAny('?', '#') is var query and >= 0 ? query : rest.Length)];

        // Past the root: /api/<version> or /apis/<group>/<version>.
        var root = rest.StartsWith("/api/") ? 2 : rest.StartsWith("/apis/") ? 3 : -1;
        if (root < 0)
        {
            return "discovery";
        }

        // The segment past the root, and the one two further: a remainder past root + 3 stays in the last range.
        var segments = rest[1..];
        Span<Range> parts = stackalloc Range[root + 4];
        var count = segments.Split(parts, '/');
        var first = count > root ? segments[parts[root]] : default;
        var third = count > root + 2 ? segments[parts[root + 2]] : default;

        // namespaces/<ns>/<resource> names the resource in the namespace; namespaces or namespaces/<ns> the namespaces.
        var resource = first is "namespaces" && !third.IsEmpty ? third : first;
        return resource.IsEmpty ? "discovery" : KnownResources.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(resource, out var known) ? known : "other";
    }

    public static void WorkloadEvent(string result) => WorkloadEvents.Add(1, new KeyValuePair<string, object?>("result", result));
}

/// <summary>The listener: each measurement of Cachier's instruments, summed in its series as it is made.</summary>
public sealed partial class MetricsText
{
    private readonly MeterListener _listener = new();
    private readonly List<Metric> _metrics = [];

    /// <summary>Listens from now on to the instruments of the meter named <paramref name="meterName"/> (tests name their own).</summary>
    public MetricsText(string meterName = Telemetry.MeterName)
    {
        var scope = $"otel_scope_name=\"{meterName}\"";
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == meterName && instrument is Counter<long> or Histogram<double>)
            {
                var metric = new Metric(instrument, scope);
                lock (_metrics)
                {
                    _metrics.Add(metric);
                }

                listener.EnableMeasurementEvents(instrument, metric);
            }
        };
        _listener.SetMeasurementEventCallback<long>(static (_, value, tags, state) => ((Metric)state!).Find(tags).Add(value));
        _listener.SetMeasurementEventCallback<double>(static (_, value, tags, state) => ((Metric)state!).Find(tags).Record(value));
        _listener.Start();
    }

    private sealed class Metric(Instrument instrument, string scope)
    {
        private readonly string _overflow = scope + ",otel_metric_overflow=\"true\"";

        public readonly bool IsHistogram = instrument is Histogram<double>;
        public readonly string Name = instrument.Name.Replace('.', '_') + (instrument.Unit == "s" ? "_seconds" : "") + (instrument is Counter<long> ? "_total" : "");
        public readonly string Help = (instrument.Description ?? "").Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
        public readonly ConcurrentDictionary<string, Series> Series = new(StringComparer.Ordinal);

        /// <summary>The series of these labels; past <see cref="Telemetry.MaxSeries"/> of them, the one overflow series.</summary>
        public Series Find(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var labels = Labels(scope, tags);
            return Series.TryGetValue(labels, out var found) ? found
                : Series.GetOrAdd(Series.Count < Telemetry.MaxSeries ? labels : _overflow, _ => new Series(IsHistogram));
        }

        private static string Labels(string scope, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            if (tags.IsEmpty)
            {
                return scope;
            }

            // In name order, as Prometheus and the exporter before this one write them (at most three here).
            Span<int> order = stackalloc int[tags.Length];
            for (var i = 0; i < order.Length; i++)
            {
                var j = i;
                for (; j > 0 && string.CompareOrdinal(tags[order[j - 1]].Key, tags[i].Key) > 0; j--)
                {
                    order[j] = order[j - 1];
                }

                order[j] = i;
            }

            var text = new StringBuilder(scope, 96);
            foreach (var i in order)
            {
                text.Append(',').Append(tags[i].Key).Append("=\"");
                foreach (var c in Convert.ToString(tags[i].Value, CultureInfo.InvariantCulture) ?? "")
                {
                    _ = c switch
                    {
                        '\\' => text.Append("\\\\"),
                        '"' => text.Append("\\\""),
                        '\n' => text.Append("\\n"),
                        _ => text.Append(c),
                    };
                }

                text.Append('"');
            }

            return text.ToString();
        }
    }

    private sealed partial class Series(bool histogram)
    {
        private readonly Lock _gate = new();
        // A histogram's count in each bucket (not cumulative), the last one above every boundary.
        private readonly long[]? _buckets = histogram ? new long[Telemetry.SecondsBuckets.Length + 1] : null;
        private long _count;
        private double _sum;

        public void Add(long value) => Interlocked.Add(ref _count, value);

        public void Record(double value)
        {
            var bucket = 0;
            while (bucket < Telemetry.SecondsBuckets.Length && value > Telemetry.SecondsBuckets[bucket])
            {
                bucket++;
            }

            lock (_gate)
            {
                _buckets![bucket]++;
                _count++;
                _sum += value;
            }
        }
    }
}
