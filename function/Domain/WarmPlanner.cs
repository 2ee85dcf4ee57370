using System.Security.Cryptography;
using System.Text;

namespace Cachier.Domain;

/// <summary>
/// Pure: Images x nodes x existing pull pods -> the pull pods to create and delete and the Image statuses to write
/// (SPEC section 11). No I/O; the time is an input. Decisions, per (Image, eligible node):
/// the node reports the image -> Pulled; a pull pod of that node and namespace with the same credentials has a
/// container for the image -> its state; a recent Pulled record (the node's image list lags a pull) -> Pulled;
/// a failure still inside its backoff -> that failure; otherwise a pull is needed, within the per-node and
/// cluster bounds (else Queued).
/// </summary>
public static class WarmPlanner
{
    public const string Queued = "Queued";
    public const string NoEligibleNodes = "NoEligibleNodes";
    public const string PullPodRefused = "PullPodRefused";
    public const string QuotaExceeded = "QuotaExceeded";
    private const int NamedNodes = 5;

    public static WarmPlan Plan(DateTimeOffset now, IReadOnlyList<WarmNode> nodes, IReadOnlyList<WarmImage> images,
        IReadOnlyList<PullPod> pods, WarmLimits limits,
        IReadOnlyDictionary<(string Namespace, string Node, string Credentials, string Image), string>? refused = null)
    {
        now = new DateTimeOffset(now.UtcTicks - (now.UtcTicks % TimeSpan.TicksPerSecond), TimeSpan.Zero); // as the status records it
        var orderedNodes = nodes.OrderBy(n => n.Name, StringComparer.Ordinal).ToList();
        var live = pods.Where(p => !p.Deleting).ToList();

        // (namespace, node, credentials, image) -> the container of a live pull pod that pulls it.
        var pulls = new Dictionary<(string, string, string, string), (PullPod Pod, ContainerPull Container)>();
        foreach (var pod in live)
        {
            foreach (var c in pod.Containers)
            {
                pulls.TryAdd((pod.Namespace, pod.Node, pod.Credentials.Key, c.Image), (pod, c));
            }
        }

        var wanted = new HashSet<PullPod>(ReferenceEqualityComparer.Instance);
        var needs = new List<(WarmImage Image, WarmNode Node)>();
        var records = new Dictionary<WarmImage, Dictionary<string, NodeRecord>>(ReferenceEqualityComparer.Instance);
        var eligibleCount = new Dictionary<WarmImage, int>(ReferenceEqualityComparer.Instance);
        var settled = pods.Count == 0;
        foreach (var image in images.OrderBy(i => i.Namespace, StringComparer.Ordinal).ThenBy(i => i.Name, StringComparer.Ordinal))
        {
            var mine = records[image] = new Dictionary<string, NodeRecord>(StringComparer.Ordinal);
            var eligible = orderedNodes.Where(n => NodeFit.Admits(n, image.Scheduling ?? Scheduling.Unknown)).ToList();
            eligibleCount[image] = eligible.Count;
            var normalized = NodeFit.Normalize(image.Image);
            foreach (var node in eligible)
            {
                var previous = image.Status.Nodes.GetValueOrDefault(node.Name);
                if (node.Images.Contains(normalized) || node.Images.Contains(image.Image))
                {
                    mine[node.Name] = Keep(previous, NodeRecord.Pulled, now);
                    continue;
                }

                settled = false;
                if (pulls.TryGetValue((image.Namespace, node.Name, image.Credentials.Key, image.Image), out var pull))
                {
                    mine[node.Name] = FromPod(pull.Pod, pull.Container, previous, now);
                    if (pull.Container.State == PullState.Waiting && !pull.Pod.Finished)
                    {
                        wanted.Add(pull.Pod);
                    }
                }
                else if (previous is { State: NodeRecord.Pulled } && now - previous.Since < limits.PulledGrace)
                {
                    mine[node.Name] = previous;
                }
                else if (previous is { } failed && IsFailure(failed.State) && now < failed.Since + limits.Backoff(failed.Attempts))
                {
                    mine[node.Name] = failed;
                }
                else
                {
                    needs.Add((image, node));
                }
            }
        }

        // A pod is done when none of its containers still waits for a wanted pull: finished, failed,
        // or every Image it pulled for was deleted or no longer fits the node.
        var delete = live.Where(p => !wanted.Contains(p)).ToList();
        var perNode = live.Except(delete).GroupBy(p => p.Node).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var total = live.Count - delete.Count;

        var create = new List<NewPullPod>();
        foreach (var group in needs.GroupBy(n => (n.Image.Namespace, n.Node.Name, n.Image.Credentials.Key)))
        {
            var first = group.First();
            var distinct = group.Select(n => n.Image.Image).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
            foreach (var chunk in distinct.Chunk(limits.ImagesPerPod))
            {
                var fits = perNode.GetValueOrDefault(group.Key.Name) < limits.MaxPodsPerNode && total < limits.MaxPods;
                if (fits)
                {
                    perNode[group.Key.Name] = perNode.GetValueOrDefault(group.Key.Name) + 1;
                    total++;
                    // The pod runs on a node the owner admits, so it carries the owner's tolerations (the scheduler is bypassed,
                    // but NoExecute taints still evict).
                    create.Add(new NewPullPod(group.Key.Namespace, PodName(group.Key.Name, first.Image.Credentials, chunk), group.Key.Name,
                        first.Image.Credentials, first.Image.Scheduling ?? Scheduling.Unknown, chunk));
                }

                foreach (var (image, node) in group.Where(n => chunk.Contains(n.Image.Image)))
                {
                    var attempts = image.Status.Nodes.GetValueOrDefault(node.Name)?.Attempts ?? 0;
                    // The API server refused this pod (quota, Pod Security, admission): one failed attempt. It keeps its place
                    // in the bounds, so the pulls that were Queued when the pods were created stay Queued (none was created for them).
                    records[image][node.Name] = !fits ? new NodeRecord(Queued, now, attempts)
                        : refused?.GetValueOrDefault((image.Namespace, node.Name, image.Credentials.Key, image.Image)) is { } why
                            ? new NodeRecord(Refusal(why), now, attempts + 1, why)
                            : new NodeRecord(NodeRecord.Pulling, now, attempts);
                }
            }
        }

        var statuses = new List<StatusWrite>();
        foreach (var (image, mine) in records.OrderBy(r => r.Key.Namespace, StringComparer.Ordinal).ThenBy(r => r.Key.Name, StringComparer.Ordinal))
        {
            var status = Status(image, mine, eligibleCount[image], now);
            if (!status.SameAs(image.Status))
            {
                statuses.Add(new StatusWrite(image.Namespace, image.Name, status));
            }
        }

        return new WarmPlan(create, delete, statuses, settled);
    }

    /// <summary>Deterministic: the node, the credentials and the images decide the name (at most 63 characters).</summary>
    public static string PodName(string node, Credentials credentials, IEnumerable<string> images)
    {
        var text = $"{node}\n{credentials.Key}\n{string.Join('\n', images)}";
        return "cachier-warm-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..10];
    }

    /// <summary>
    /// Why the API server refused a pull pod: a ResourceQuota of the namespace (its admission's "exceeded quota", or
    /// "failed quota" for a quota that needs requests or limits the pod lacks) -> QuotaExceeded; Pod Security or another
    /// admission -> PullPodRefused.
    /// </summary>
    public static string Refusal(string message) =>
        message.Contains("exceeded quota", StringComparison.Ordinal) || message.Contains("failed quota", StringComparison.Ordinal)
            ? QuotaExceeded : PullPodRefused;

    public static bool IsFailure(string state) => state is not (NodeRecord.Pulled or NodeRecord.Pulling or Queued);

    private static NodeRecord Keep(NodeRecord? previous, string state, DateTimeOffset now) =>
        previous?.State == state ? previous : new NodeRecord(state, now, state == NodeRecord.Pulled ? 0 : previous?.Attempts ?? 0);

    /// <summary>A pod's failure counts as one attempt, however many passes read it.</summary>
    private static NodeRecord FromPod(PullPod pod, ContainerPull container, NodeRecord? previous, DateTimeOffset now)
    {
        var failure = container.State == PullState.Failed ? container.Reason ?? "ErrImagePull"
            : container.State == PullState.Waiting && pod.Finished ? pod.FailureReason ?? "PullPodFailed"
            : null;
        if (failure is null)
        {
            // A record older than this pod is from an earlier pull: this pod's answer is news (it restarts the grace period).
            var state = container.State == PullState.Pulled ? NodeRecord.Pulled : NodeRecord.Pulling;
            return previous is { } kept && kept.State == state && (state == NodeRecord.Pulling || kept.Since >= pod.Created) ? kept : new NodeRecord(state, now, state == NodeRecord.Pulled ? 0 : previous?.Attempts ?? 0);
        }

        if (previous is { } p && IsFailure(p.State) && p.Since >= pod.Created)
        {
            return p;
        }

        var attempts = (previous is { } q && IsFailure(q.State) ? q.Attempts : previous?.Attempts ?? 0) + 1;
        return new NodeRecord(failure, now, attempts, container.State == PullState.Failed ? container.Message : pod.FailureMessage);
    }

    private static ImageStatus Status(WarmImage image, Dictionary<string, NodeRecord> nodes, int eligible, DateTimeOffset now)
    {
        string ready, reason, message;
        // Named in node order, whichever way each record came about in this pass.
        var ordered = nodes.OrderBy(n => n.Key, StringComparer.Ordinal).ToList();
        var failed = ordered.Where(n => IsFailure(n.Value.State)).ToList();
        var pending = ordered.Where(n => n.Value.State is NodeRecord.Pulling or Queued).ToList();
        if (eligible == 0)
        {
            (ready, reason, message) = ("True", NoEligibleNodes, "no Ready, schedulable node admits the owner's pods");
        }
        else if (pending.Count > 0)
        {
            (ready, reason, message) = ("Unknown", NodeRecord.Pulling, $"pulling on {Named(pending)}" + (failed.Count > 0 ? $"; {failed[0].Value.State} on {Named(failed)}" : ""));
        }
        else if (failed.Count > 0)
        {
            var first = failed[0].Value;
            (ready, reason, message) = ("False", first.State, $"{first.State} on {Named(failed)}" + (first.Message is { Length: > 0 } m ? $": {m}" : ""));
        }
        else
        {
            (ready, reason, message) = ("True", NodeRecord.Pulled, $"present on {Named(ordered)}");
        }

        var transition = image.Status.Ready == ready ? image.Status.LastTransition ?? now : now;
        return new ImageStatus(ready, reason, message, transition, image.Generation, nodes);
    }

    private static string Named(IReadOnlyList<KeyValuePair<string, NodeRecord>> nodes)
    {
        var names = string.Join(", ", nodes.Take(NamedNodes).Select(n => n.Key));
        return nodes.Count > NamedNodes ? $"{names} and {nodes.Count - NamedNodes} more" : names;
    }
}
