using System.Diagnostics;
using System.Threading.Channels;
using Cachier.Configuration;
using Cachier.Diagnostics;
using Cachier.Domain;

namespace Cachier.Reconcile;

/// <summary>
/// Backfill and drift repair (SPEC section 7): one paginated LIST of labelled Images indexed by controller uid, then
/// one paginated LIST per kind whose workloads are reconciled against their indexed Images as the pages arrive.
/// A trigger while a resync runs joins it instead of starting a second one (<c>joined</c>); a trigger within
/// <c>ResyncMinInterval</c> of the last run that completed gets that run's summary (<c>reused</c>), so a sender cannot
/// make Cachier LIST the cluster back to back. A run that failed as a whole is not reused: its retry is meant.
/// </summary>
public sealed class Resyncer(IClusterApi api, ImageReconciler reconciler, IEventRecorder notes, CachierSettings settings,
    ILogger<Resyncer> logger, IHostApplicationLifetime lifetime, TimeProvider time)
{
    private const int MaxReportedFailures = 20;

    /// <summary>Restarts of one LIST whose continue token expired (410) before the resync gives that LIST up.</summary>
    private const int MaxListRestarts = 2;

    private readonly Lock _gate = new();
    private Task<ResyncSummary>? _running;
    private (ResyncSummary Summary, long At)? _last;

    public Task<ResyncSummary> RunAsync(CancellationToken ct)
    {
        lock (_gate)
        {
            if (_running is { IsCompleted: false } running)
            {
                return running.ContinueWith(t => t.Result with { Joined = true }, ct, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
            }

            if (_last is { } last && last.Summary.Result is not (ResyncResult.Transient or ResyncResult.Failed) && time.GetElapsedTime(last.At) < settings.Options.ResyncMinInterval)
            {
                return Task.FromResult(last.Summary with { Reused = true, Joined = false });
            }

            // The resync outlives the request that triggered it: a sender's timeout must not abort a half-done repair.
            _running = Task.Run(() => RunCoreAsync(lifetime.ApplicationStopping), CancellationToken.None);
            return _running.WaitAsync(ct);
        }
    }

    private async Task<ResyncSummary> RunCoreAsync(CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        using var held = notes.Hold(); // the notes of the run are written after it
        int workloads = 0, created = 0, updated = 0, deleted = 0, failed = 0;
        var skipped = new List<string>();
        var failures = new List<string>();
        var index = new Dictionary<string, List<ImageState>>(StringComparer.Ordinal);
        var images = 0;
        ResyncResult result;
        try
        {
            for (var restarts = 0; ; restarts++)
            {
                try
                {
                    index.Clear();
                    images = 0;
                    await foreach (var page in api.ListAllImagesAsync(ct))
                    {
                        foreach (var image in page.Where(i => i.ControllerLabel is not null))
                        {
                            images++;
                            // By namespace too: an Image copied into another namespace must not stand in for the real one.
                            var key = IndexKey(image.Namespace, image.ControllerLabel!);
                            (index.TryGetValue(key, out var list) ? list : index[key] = []).Add(image);
                        }
                    }

                    break;
                }
                catch (ApiException e) when (e.StatusCode == 410 && restarts < MaxListRestarts)
                {
                    // The continue token expired: the index must be one consistent listing (a twice-listed Image would
                    // look like a duplicate to delete), so start it again from the first page.
                    Log.ListRestarted(logger, "images", e.Message);
                }
            }

            // One work queue across pages and kinds, drained by ResyncParallelism workers: the next page is fetched while
            // the current one is reconciled, and no page waits for its slowest workload before the next one starts, so
            // ResyncParallelism reconciles (and their writes) stay in flight from the first page to the last.
            var queue = Channel.CreateBounded<Workload>(new BoundedChannelOptions(Math.Max(1, settings.Options.ResyncPageSize)) { SingleWriter = true });
            var workers = Enumerable.Range(0, Math.Max(1, settings.Options.ResyncParallelism)).Select(_ => Task.Run(async () =>
            {
                try
                {
                    await foreach (var workload in queue.Reader.ReadAllAsync(ct))
                    {
                        var outcome = await reconciler.ReconcileListedAsync(workload, index.GetValueOrDefault(IndexKey(workload.Namespace, workload.Uid)) ?? [], ct);
                        lock (failures)
                        {
                            workloads++;
                            created += outcome.Created;
                            updated += outcome.Updated;
                            deleted += outcome.Deleted;
                            if (outcome.Result is OutcomeResult.Transient or OutcomeResult.Failed)
                            {
                                failed++;
                                if (failures.Count < MaxReportedFailures)
                                {
                                    failures.Add($"{workload.Kind} {workload.Namespace}/{workload.Name}: {outcome.Reason}");
                                }

                                Log.ResyncFailure(logger, outcome.Kind, outcome.Namespace, outcome.Name, outcome.Result.Name(), outcome.Reason);
                            }
                        }
                    }
                }
                catch (Exception e)
                {
                    // A worker that dies unexpectedly must not leave the lister blocked on a full queue.
                    queue.Writer.TryComplete(e);
                    throw;
                }
            }, ct)).ToArray();

            try
            {
                foreach (var kind in settings.Kinds)
                {
                    try
                    {
                        await ForEachPageAsync(kind, ct, async page =>
                        {
                            foreach (var workload in page)
                            {
                                await queue.Writer.WriteAsync(workload, ct);
                            }
                        });
                    }
                    catch (ApiException e) when (e.StatusCode == 404)
                    {
                        // For example CronJob.v1.batch on a 1.20 API server, which serves only batch/v1beta1.
                        lock (failures)
                        {
                            skipped.Add(kind.ToString());
                        }

                        Log.KindNotServed(logger, kind.ToString(), e.Message);
                    }
                    catch (ApiException e)
                    {
                        // One kind that cannot be listed (RBAC, an outage mid-way) must not cost the other kinds their repair.
                        lock (failures)
                        {
                            failed++;
                            failures.Add($"{kind}: {e.Message}");
                        }

                        Log.ResyncFailure(logger, kind.ToString(), "*", "*", (e.IsTransient ? OutcomeResult.Transient : OutcomeResult.Failed).Name(), e.Message);
                    }
                }
            }
            finally
            {
                queue.Writer.TryComplete();
            }

            await Task.WhenAll(workers);

            result = failed == 0 ? ResyncResult.Completed : ResyncResult.Partial;
        }
        catch (ApiException e)
        {
            failures.Add(e.Message);
            result = e.IsTransient ? ResyncResult.Transient : ResyncResult.Failed;
        }

        var duration = Stopwatch.GetElapsedTime(started);
        Telemetry.Resync(result.Name(), duration, created + updated + deleted);
        Log.Resynced(logger, result.Name(), workloads, created, updated, deleted, failed, string.Join(", ", skipped), Math.Round(duration.TotalMilliseconds, 1));
        var summary = new ResyncSummary(result, workloads, images, created, updated, deleted, failed, skipped, failures, Math.Round(duration.TotalMilliseconds, 1));
        lock (_gate)
        {
            _last = (summary, time.GetTimestamp());
        }

        return summary;
    }

    /// <summary>
    /// The workloads of one kind, page by page. A continue token that expired (410) starts that kind's LIST again from
    /// the first page, bounded: the workloads seen twice are reconciled twice, which is idempotent.
    /// </summary>
    private async Task ForEachPageAsync(ResourceKind kind, CancellationToken ct, Func<IReadOnlyList<Workload>, Task> handle)
    {
        for (var restarts = 0; ; restarts++)
        {
            try
            {
                await foreach (var page in api.ListWorkloadsAsync(kind, ct))
                {
                    await handle(page);
                }

                return;
            }
            catch (ApiException e) when (e.StatusCode == 410 && restarts < MaxListRestarts)
            {
                Log.ListRestarted(logger, kind.ToString(), e.Message);
            }
        }
    }

    private static string IndexKey(string ns, string uid) => $"{ns}/{uid}";
}
