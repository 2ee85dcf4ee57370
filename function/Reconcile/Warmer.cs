using System.Collections.Concurrent;
using System.Diagnostics;
using Cachier.Configuration;
using Cachier.Diagnostics;
using Cachier.Domain;

namespace Cachier.Reconcile;

/// <summary>
/// The Image implementation (SPEC section 11), level-based: every trigger (an Image, Node or pull pod event, a
/// ping) runs one pass over the whole cluster: LIST nodes, pull pods and Images, GET each distinct owner's
/// scheduling, plan (pure), then delete finished pull pods, create the needed ones and write the statuses that
/// changed. A pass never waits for a pull: the pull pods' own events carry the work forward.
/// Triggers that arrive while a pass runs are served by one next pass, which starts after they arrived. An owner read
/// by a pass serves the passes of the next <see cref="WarmerOptions.OwnerCacheTtl"/> too (the owners of the last pass only).
/// A node's event after a settled pass (<see cref="WarmPlan.Settled"/>: nothing pulling, nothing waiting on the time) costs
/// one GET of that node, and no pass when nothing the warmer reads of it changed: a settled cluster's node status
/// updates would otherwise each list the whole cluster.
/// </summary>
public sealed class Warmer(IWarmApi api, CachierSettings settings, TimeProvider time, ILogger<Warmer> logger, IHostApplicationLifetime lifetime)
{
    private const int MaxReportedFailures = 20;
    private readonly SemaphoreSlim _one = new(1, 1);
    private long _requested;
    private long _covered;
    private WarmSummary? _last;

    // Written by one pass at a time (under _one): each owner of the last pass, with when its read was sent.
    private IReadOnlyDictionary<(string, string), (Scheduling? Scheduling, long ReadAt)> _owners = new Dictionary<(string, string), (Scheduling?, long)>();

    // Under _one: the nodes as the last pass read them, when that pass left the cluster settled and wrote all it planned; else null.
    private Dictionary<string, WarmNode>? _settled;

    /// <param name="node">The node a Node event names (null for any other trigger): see <see cref="UnchangedAsync"/>.</param>
    public async Task<WarmSummary> RunAsync(string? node, CancellationToken ct)
    {
        var ticket = Interlocked.Increment(ref _requested);
        await _one.WaitAsync(ct);
        try
        {
            if (_covered >= ticket && _last is { } done)
            {
                return done with { Joined = true };
            }

            if (node is not null && await UnchangedAsync(node, ct) is { } unchanged)
            {
                return unchanged;
            }

            var covers = Interlocked.Read(ref _requested);
            // The pass outlives the request that triggered it: a sender's timeout must not leave it half-done.
            var summary = await PassAsync(lifetime.ApplicationStopping);
            (_covered, _last) = (covers, summary);
            return summary;
        }
        finally
        {
            _one.Release();
        }
    }

    /// <summary>
    /// After a settled pass, a node's event matters only if something the warmer reads of that node changed (its
    /// readiness, labels, taints, image list): one GET tells. A node the pass did not see, one gone, or a failed read: a pass.
    /// </summary>
    private async Task<WarmSummary?> UnchangedAsync(string name, CancellationToken ct)
    {
        if (_settled?.GetValueOrDefault(name) is not { } seen)
        {
            return null;
        }

        var started = Stopwatch.GetTimestamp();
        try
        {
            if (await api.GetNodeAsync(name, ct) is not { } now || !now.SameAs(seen))
            {
                return null;
            }
        }
        catch (ApiException)
        {
            return null;
        }

        var duration = Math.Round(Stopwatch.GetElapsedTime(started).TotalMilliseconds, 1);
        Log.NodeUnchanged(logger, name, duration);
        return new WarmSummary(WarmSummary.Unchanged, 1, 0, 0, 0, 0, 0, [], duration);
    }

    private async Task<WarmSummary> PassAsync(CancellationToken ct)
    {
        _settled = null;
        var started = Stopwatch.GetTimestamp();
        var failures = new ConcurrentQueue<string>();
        int nodes = 0, images = 0, created = 0, deleted = 0, written = 0;
        string result;
        try
        {
            var now = time.GetUtcNow();
            var nodeList = await api.ListNodesAsync(ct);
            var pods = await api.ListPullPodsAsync(ct);
            var targets = new List<WarmTarget>();
            await foreach (var page in api.ListImagesToWarmAsync(ct))
            {
                targets.AddRange(page);
            }

            var warm = await WithSchedulingAsync(targets, ct);
            (nodes, images) = (nodeList.Count, warm.Count);
            var plan = WarmPlanner.Plan(now, nodeList, warm, pods, settings.Limits);
            var parallel = new ParallelOptions { MaxDegreeOfParallelism = settings.Options.ResyncParallelism, CancellationToken = ct };

            // Finished pods first: they free the per-node and cluster bounds the new ones count against.
            await Parallel.ForEachAsync(plan.Delete, parallel, async (pod, token) =>
            {
                if (await TryAsync(() => api.DeletePullPodAsync(pod, token), $"delete pull pod {pod.Namespace}/{pod.Name}", failures) is not null)
                {
                    Interlocked.Increment(ref deleted);
                }
            });

            var refused = new ConcurrentDictionary<(string, string, string, string), string>();
            await Parallel.ForEachAsync(plan.Create, parallel, async (pod, token) =>
            {
                try
                {
                    if (await api.CreatePullPodAsync(pod, token) == WriteResult.Done)
                    {
                        Interlocked.Increment(ref created);
                    }
                }
                catch (ApiException e) when (!e.IsTransient)
                {
                    // Quota, Pod Security or admission said no: a failure of these pulls, retried with backoff.
                    foreach (var image in pod.Images)
                    {
                        refused[(pod.Namespace, pod.Node, pod.Credentials.Key, image)] = e.Message.Length > 200 ? e.Message[..200] + "..." : e.Message;
                    }
                }
                catch (ApiException e)
                {
                    failures.Enqueue($"create pull pod {pod.Namespace}/{pod.Name}: {e.Message}");
                }
            });

            var statuses = refused.IsEmpty
                ? plan.Statuses
                : WarmPlanner.Plan(now, nodeList, warm, pods, settings.Limits, refused).Statuses;
            await Parallel.ForEachAsync(statuses, parallel, async (write, token) =>
            {
                if (await TryAsync(() => api.WriteStatusAsync(write, token), $"status of Image {write.Namespace}/{write.Name}", failures) == WriteResult.Done)
                {
                    Interlocked.Increment(ref written);
                }
            });
            result = failures.IsEmpty ? WarmSummary.Completed : WarmSummary.Partial;
            if (result == WarmSummary.Completed && plan.Settled)
            {
                _settled = nodeList.ToDictionary(n => n.Name, StringComparer.Ordinal);
            }
        }
        catch (ApiException e)
        {
            failures.Enqueue(e.Message);
            result = e.IsTransient ? WarmSummary.Unavailable : WarmSummary.Error;
        }

        var duration = Math.Round(Stopwatch.GetElapsedTime(started).TotalMilliseconds, 1);
        Log.Warmed(logger, result, nodes, images, created, deleted, written, failures.Count, duration);
        return new WarmSummary(result, nodes, images, created, deleted, written, failures.Count, failures.Take(MaxReportedFailures).ToList(), duration);
    }

    /// <summary>Each distinct owner is read at most once per pass, in parallel, and not again within the cache's TTL.</summary>
    private async Task<List<WarmImage>> WithSchedulingAsync(List<WarmTarget> targets, CancellationToken ct)
    {
        var ttl = settings.Options.Warmer.OwnerCacheTtl;
        var owners = new ConcurrentDictionary<(string, string), (Scheduling? Scheduling, long ReadAt)>();
        var toRead = new List<WarmTarget>();
        foreach (var t in targets.Where(t => t.Owner is not null).DistinctBy(OwnerKey))
        {
            if (_owners.TryGetValue(OwnerKey(t), out var known) && time.GetElapsedTime(known.ReadAt) < ttl)
            {
                owners[OwnerKey(t)] = known;
            }
            else
            {
                toRead.Add(t);
            }
        }

        await Parallel.ForEachAsync(toRead, new ParallelOptions { MaxDegreeOfParallelism = settings.Options.ResyncParallelism, CancellationToken = ct },
            async (t, token) =>
            {
                var readAt = time.GetTimestamp();
                owners[OwnerKey(t)] = (await api.GetSchedulingAsync(t.Image.Namespace, t.Owner!, token), readAt);
            });
        _owners = owners;
        return targets
            .Select(t => t.Image with { Scheduling = t.Owner is null ? null : owners.GetValueOrDefault(OwnerKey(t)).Scheduling })
            .ToList();

        static (string, string) OwnerKey(WarmTarget t) => (t.Image.Namespace, t.Owner!.Uid);
    }

    private static async Task<WriteResult?> TryAsync(Func<Task<WriteResult>> write, string what, ConcurrentQueue<string> failures)
    {
        try
        {
            return await write();
        }
        catch (ApiException e)
        {
            failures.Enqueue($"{what}: {e.Message}");
            return null;
        }
    }
}
