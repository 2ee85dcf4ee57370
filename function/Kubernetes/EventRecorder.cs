using System.Globalization;
using System.Threading.Channels;
using Cachier.Diagnostics;
using Cachier.Domain;
using Cachier.Reconcile;

namespace Cachier.Kubernetes;

/// <summary>
/// Writes <see cref="WorkloadNote"/>s as core/v1 Events on the workload, off the reconcile's path: <see cref="Record"/>
/// only queues (a full queue drops the note, counted), one background loop writes. Repeats are aggregated as client-go's
/// EventCorrelator does: the same type, reason and message on the same object PATCHes the Event already written
/// (count + 1, lastTimestamp) instead of adding one; the Events written are remembered in a bounded LRU. A failed write
/// is logged and counted, not retried beyond the API client's own bounded retry: a lost note costs less than a queue
/// that grows while the API server struggles. While a resync runs (<see cref="Hold"/>) nothing is written: a backfill's
/// thousand notes would otherwise add a write for every two Images to the API server's load (measured: 516 Events
/// written and 484 dropped during the bench's 2,000-Image backfill); the queued notes are written when it is done.
/// </summary>
public sealed class EventRecorder(KubeApi api, TimeProvider time, ILogger<EventRecorder> logger) : BackgroundService, IEventRecorder
{
    public const int QueueCapacity = 256;

    /// <summary>Events remembered for aggregation (client-go keeps 4096; one Cachier sees far fewer distinct notes).</summary>
    public const int Remembered = 1024;

    private const string Component = "cachier";

    private readonly Channel<Item> _queue = Channel.CreateBounded<Item>(new BoundedChannelOptions(QueueCapacity) { SingleReader = true });
    private readonly LinkedList<Written> _recent = new();
    private readonly Dictionary<string, LinkedListNode<Written>> _byKey = new(StringComparer.Ordinal);
    private readonly Lock _holdGate = new();
    private TaskCompletionSource _released = Released();
    private int _holds;
    private long _lastTicks;
    private int _dropping;

    public void Record(Workload subject, WorkloadNote note)
    {
        if (_queue.Writer.TryWrite(new Item(subject, note, null)))
        {
            _dropping = 0;
            return;
        }

        // One line for a run of drops (a backfill drops hundreds); each drop is counted.
        Telemetry.WorkloadEvent("dropped");
        if (Interlocked.Exchange(ref _dropping, 1) == 0)
        {
            Log.EventNotWritten(logger, subject.Kind, subject.Namespace, subject.Name, note.Reason,
                $"the queue is full ({QueueCapacity} notes); the next notes are dropped without a line each until it has room");
        }
    }

    public IDisposable Hold()
    {
        lock (_holdGate)
        {
            if (_holds++ == 0)
            {
                _released = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }

        return new Holding(this);
    }

    /// <summary>Completes once every note recorded before it has been written or given up (tests; a clean stop).</summary>
    public async Task FlushAsync(CancellationToken ct)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await _queue.Writer.WriteAsync(new Item(null, null, done), ct);
        await done.Task.WaitAsync(ct);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var item in _queue.Reader.ReadAllAsync(stoppingToken))
            {
                Task released;
                lock (_holdGate)
                {
                    released = _released.Task;
                }

                await released.WaitAsync(stoppingToken);
                if (item.Flushed is { } flushed)
                {
                    flushed.TrySetResult();
                    continue;
                }

                try
                {
                    Telemetry.WorkloadEvent(await WriteAsync(item.Subject!, item.Note!, stoppingToken));
                }
                catch (Exception e) when (e is ApiException || (e is OperationCanceledException && !stoppingToken.IsCancellationRequested))
                {
                    Telemetry.WorkloadEvent("failed");
                    Log.EventNotWritten(logger, item.Subject!.Kind, item.Subject.Namespace, item.Subject.Name, item.Note!.Reason, e.Message);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: notes still queued are dropped with the process.
        }
    }

    /// <returns>The metric's result: created, aggregated or failed.</returns>
    private async Task<string> WriteAsync(Workload subject, WorkloadNote note, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var key = string.Join('\n', subject.Uid, note.Type, note.Reason, note.Message);
        if (_byKey.TryGetValue(key, out var node))
        {
            var seen = node.Value;
            _recent.Remove(node);
            _recent.AddFirst(node);
            if (await api.AggregateEventAsync(seen.Namespace, seen.Name, seen.Count + 1, now, ct) == WriteResult.Done)
            {
                seen.Count++;
                return "aggregated";
            }

            // Gone (the API server expires Events, an hour by default): write a new one.
            _recent.Remove(node);
            _byKey.Remove(key);
        }

        var name = EventName(subject.Name, now);
        var stamp = EventTime.Format(now);
        var ev = new CoreEvent(new EventMeta(name, subject.Namespace),
            new InvolvedObject(subject.ApiVersion, subject.Kind, subject.Namespace, subject.Name, subject.Uid),
            note.Reason, note.Message, note.Type, new EventSource(Component), stamp, stamp, 1, Component, Environment.MachineName);
        if (await api.CreateEventAsync(ev, ct) != WriteResult.Done)
        {
            // 404: the namespace is gone; 409: the name is taken (another replica in the same 100 ns).
            return "failed";
        }

        _byKey[key] = _recent.AddFirst(new Written(key, subject.Namespace, name));
        if (_byKey.Count > Remembered)
        {
            var oldest = _recent.Last!;
            _recent.RemoveLast();
            _byKey.Remove(oldest.Value.Key);
        }

        return "created";
    }

    /// <summary>client-go's name: the object's name and a time in hex; here strictly increasing within the process.</summary>
    private string EventName(string objectName, DateTimeOffset now)
    {
        _lastTicks = Math.Max(_lastTicks + 1, now.UtcTicks);
        var suffix = "." + _lastTicks.ToString("x", CultureInfo.InvariantCulture);
        // A name is at most 253 characters; a cut name must still end in a letter or digit.
        return objectName[..Math.Min(objectName.Length, 253 - suffix.Length)].TrimEnd('.', '-') + suffix;
    }

    private static TaskCompletionSource Released()
    {
        var released = new TaskCompletionSource();
        released.SetResult();
        return released;
    }

    private void Release()
    {
        lock (_holdGate)
        {
            if (--_holds == 0)
            {
                _released.TrySetResult();
            }
        }
    }

    private sealed class Holding(EventRecorder recorder) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                recorder.Release();
            }
        }
    }

    private sealed record Item(Workload? Subject, WorkloadNote? Note, TaskCompletionSource? Flushed);

    private sealed class Written(string key, string ns, string name)
    {
        public string Key { get; } = key;

        public string Namespace { get; } = ns;

        public string Name { get; } = name;

        public int Count { get; set; } = 1;
    }
}
