using Cachier.Configuration;
using Cachier.Diagnostics;
using Cachier.Domain;

namespace Cachier.Reconcile;

public enum WorkloadAction { Add, Update, Delete }

/// <summary>A workload event, already validated: the edge turned the CloudEvent into this, the kind resolved once.</summary>
public sealed record WorkloadEvent(WorkloadAction Action, ResourceKind Kind, WorkloadRef Ref, Workload? Object);

/// <summary>
/// LIST, diff, and write only the difference (SPEC section 5). <see cref="ReconcileAsync(WorkloadEvent, CancellationToken)"/>
/// (events) and <see cref="ReconcileListedAsync"/> (the resync) both go through <see cref="RunAsync"/>: the one place that
/// checks the namespace, takes the workload's lock, maps API errors to an outcome, counts the Images written and tells
/// the workload what changed (<see cref="WorkloadNote"/>).
/// </summary>
public sealed partial class ImageReconciler(IClusterApi api, CachierSettings settings, PlanMemo memo, IEventRecorder events)
{
    private const int MaxAttempts = 3;

    /// <summary>Events and the resync serialise on it, one workload at a time; the key is made only in <see cref="RunAsync"/>.</summary>
    private readonly KeyedLock _locks = new();

    public Task<Outcome> ReconcileAsync(WorkloadEvent ev, CancellationToken ct)
    {
        if (ev.Action == WorkloadAction.Delete)
        {
            // Garbage collection removes the Images through their ownerReferences.
            return Task.FromResult(Outcome.For(OutcomeResult.Deleted, ev.Ref, "garbage collection removes the Images"));
        }

        // The object an event carries is a claim: anything that reaches the Service could have written it. It stands
        // in for a GET only when the operator trusts embedded objects (which requires sender authentication).
        var embedded = settings.Options.TrustEmbeddedObjects ? ev.Object : null;
        return RunAsync(ev.Ref, async (subject, token) =>
        {
            var workload = embedded ?? await api.GetWorkloadAsync(ev.Kind, ev.Ref.Namespace, ev.Ref.Name, token);
            return workload is null
                ? Outcome.For(OutcomeResult.Gone, ev.Ref, "the workload no longer exists")
                : await ApplyAsync(subject, workload, indexed: null, token, verifyAs: embedded is null ? null : ev.Kind);
        }, ct);
    }

    /// <summary>The resync: a workload as listed, with its Images as the resync indexed them (neither memo nor LIST).</summary>
    public Task<Outcome> ReconcileListedAsync(Workload workload, IReadOnlyList<ImageState> indexed, CancellationToken ct) =>
        RunAsync(workload.Ref, (subject, token) => ApplyAsync(subject, workload, indexed, token), ct);

    /// <summary>The workload a reconcile last applied: what its notes are recorded on (an API error may end the reconcile).</summary>
    private sealed class Subject
    {
        public Workload? Workload;
    }

    private async Task<Outcome> RunAsync(WorkloadRef target, Func<Subject, CancellationToken, Task<Outcome>> reconcile, CancellationToken ct)
    {
        if (settings.ExcludedNamespaces.Contains(target.Namespace))
        {
            return Outcome.For(OutcomeResult.Ignored, target, $"namespace {target.Namespace} is excluded");
        }

        Outcome outcome;
        var subject = new Subject();
        int? errorStatus = null;
        using (await _locks.AcquireAsync($"{target.ApiVersion}/{target.Kind}/{target.Namespace}/{target.Name}", ct))
        {
            try
            {
                outcome = await reconcile(subject, ct);
            }
            catch (ApiException e)
            {
                outcome = Outcome.For(e.IsTransient ? OutcomeResult.Transient : OutcomeResult.Failed, target, e.Message) with { RetryAfter = e.RetryAfter };
                errorStatus = e.StatusCode;
            }
        }

        Telemetry.Images(outcome.Created, outcome.Updated, outcome.Deleted);
        if (subject.Workload is { } workload)
        {
            foreach (var note in WorkloadNote.For(outcome, errorStatus))
            {
                events.Record(workload, note);
            }
        }

        return outcome;
    }

    /// <summary>
    /// Brings one workload's Images to its plan. <paramref name="indexed"/> = its Images as the resync
    /// already listed them (then neither the memo nor a LIST is used); null = LIST them here.
    /// <paramref name="verifyAs"/>: the workload came embedded in an event, as this kind: before its generation is
    /// written above what was applied, it is read from the API server, so one event cannot push the stale guard past
    /// the object's real generation (and freeze the workload).
    /// </summary>
    private async Task<Outcome> ApplyAsync(Subject subject, Workload workload, IReadOnlyList<ImageState>? indexed, CancellationToken ct, ResourceKind? verifyAs = null)
    {
        subject.Workload = workload;
        var target = workload.Ref;
        var plan = ImagePlanner.Plan(workload, settings.Filters);
        if (!plan.Applies)
        {
            return Outcome.For(OutcomeResult.Ignored, target, $"{plan.Reason} at {PodTemplate.Shapes}");
        }

        var print = PlanMemo.Fingerprint(plan);
        if (indexed is null && memo.Matches(workload.Uid, print))
        {
            return Outcome.For(plan.Cache ? OutcomeResult.Reconciled : OutcomeResult.Disabled, target, "unchanged since last applied")
                with
            { Unchanged = plan.Images.Count };
        }

        memo.Forget(workload.Uid);
        var existing = indexed ?? await api.ListImagesAsync(workload.Namespace, workload.Uid, ct);
        if (existing.FirstOrDefault(i => i.Generation > workload.Generation) is { } newer)
        {
            return Outcome.For(OutcomeResult.Stale, target,
                $"generation {workload.Generation} is older than {newer.Generation} already applied to Image {newer.Name}");
        }

        if (verifyAs is not null && !(workload.Generation <= existing.Max(i => i.Generation)))
        {
            // Would write a generation never applied before: only the API server's object may do that.
            var real = await api.GetWorkloadAsync(verifyAs, target.Namespace, target.Name, ct);
            if (real is null)
            {
                return Outcome.For(OutcomeResult.Gone, target, "the workload no longer exists");
            }

            if (real.Uid != workload.Uid || real.Generation != workload.Generation)
            {
                return await ApplyAsync(subject, real, indexed: null, ct);
            }
        }

        var outcome = plan.Cache
            ? await DiffAsync(plan, existing, ct)
            : Outcome.For(OutcomeResult.Disabled, target, plan.Reason) with { Deleted = await DeleteAllAsync(existing, workload.Generation, ct) };
        if (outcome.Result is OutcomeResult.Reconciled or OutcomeResult.Disabled)
        {
            memo.Remember(workload.Uid, print);
        }

        return outcome;
    }

    /// <summary>Serialises work per key (one workload) while different keys run in parallel.</summary>
    private sealed class KeyedLock
    {
        private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);

        public async Task<IDisposable> AcquireAsync(string key, CancellationToken ct)
        {
            Entry entry;
            lock (_entries)
            {
                if (!_entries.TryGetValue(key, out entry!))
                {
                    entry = new Entry();
                    _entries[key] = entry;
                }

                entry.Users++;
            }

            try
            {
                await entry.Gate.WaitAsync(ct);
            }
            catch
            {
                Release(key, entry, held: false);
                throw;
            }

            return new Releaser(this, key, entry);
        }

        private void Release(string key, Entry entry, bool held)
        {
            if (held)
            {
                entry.Gate.Release();
            }

            lock (_entries)
            {
                if (--entry.Users == 0)
                {
                    _entries.Remove(key);
                    entry.Gate.Dispose();
                }
            }
        }

        private sealed class Entry
        {
            public SemaphoreSlim Gate { get; } = new(1, 1);

            public int Users { get; set; }
        }

        private sealed class Releaser(KeyedLock owner, string key, Entry entry) : IDisposable
        {
            private int _disposed;

            public void Dispose()
            {
                if (Interlocked.Exchange(ref _disposed, 1) == 0)
                {
                    owner.Release(key, entry, held: true);
                }
            }
        }
    }
}
