using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace Cachier.Domain;

/// <summary>Image filters from configuration; empty lists filter nothing.</summary>
public sealed record ImageFilters(IReadOnlyList<Regex> Include, IReadOnlyList<Regex> Exclude)
{
    public static readonly ImageFilters None = new([], []);

    public bool Allows(string image) =>
        (Include.Count == 0 || Include.Any(r => r.IsMatch(image))) && !Exclude.Any(r => r.IsMatch(image));
}

/// <summary>Pure: turns a workload into the complete set of Images it should own. No I/O.</summary>
public static class ImagePlanner
{
    public const string DecorateAnnotation = "cachier.mattmoor.io/decorate";

    public static ImagePlan Plan(Workload workload, ImageFilters? filters = null)
    {
        filters ??= ImageFilters.None;
        if (workload.Pod is null)
        {
            return new ImagePlan(workload, false, "no pod spec", [], Applies: false);
        }

        var (cache, reason) = ShouldCache(workload);
        if (!cache)
        {
            return new ImagePlan(workload, false, reason, []);
        }

        var pod = workload.Pod;
        var images = pod.Images
            .Where(i => i.Length > 0 && filters.Allows(i))
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal)
            .Select(i => new DesiredImage(Names.ImageName(workload.Name, workload.Uid, i), i,
                string.IsNullOrEmpty(pod.ServiceAccountName) ? null : pod.ServiceAccountName, pod.ImagePullSecrets))
            .ToList();
        return new ImagePlan(workload, true, reason, images);
    }

    /// <summary>The decorate annotation wins; otherwise a controlled object is left to its controller.</summary>
    public static (bool Cache, string Reason) ShouldCache(Workload workload)
    {
        switch (workload.Decorate?.Trim().ToLowerInvariant())
        {
            case "true" or "on" or "enable" or "enabled":
                return (true, "decorate annotation opts in");
            case "false" or "off" or "disable" or "disabled":
                return (false, "decorate annotation opts out");
        }

        return workload.HasController
            ? (false, "controlled by another object, which is cached instead")
            : (true, "not controlled");
    }
}

/// <summary>Pure parts of the diff: which listed Image keeps which desired one, and which kept Images to relabel.</summary>
internal static class ImageMatch
{
    /// <summary>
    /// One keeper per desired image: the Image of its name (ours even when its image was edited: it is updated), else
    /// the oldest-named one carrying that image (adopted, say from the original cachier). The rest is surplus.
    /// </summary>
    public static (Dictionary<string, ImageState> Keep, List<ImageState> Surplus) Match(ImagePlan plan, IReadOnlyList<ImageState> existing)
    {
        var keep = new Dictionary<string, ImageState>(StringComparer.Ordinal);
        var kept = new HashSet<ImageState>(ReferenceEqualityComparer.Instance);
        foreach (var want in plan.Images)
        {
            if (existing.FirstOrDefault(i => i.Name == want.Name) is { } named)
            {
                keep[want.Image] = named;
                kept.Add(named);
            }
        }

        foreach (var want in plan.Images.Where(w => !keep.ContainsKey(w.Image)))
        {
            if (existing.Where(i => i.Image == want.Image && !kept.Contains(i)).OrderBy(i => i.Name, StringComparer.Ordinal).FirstOrDefault() is { } adopted)
            {
                keep[want.Image] = adopted;
                kept.Add(adopted);
            }
        }

        var surplus = existing.GroupBy(i => i.Image, StringComparer.Ordinal).SelectMany(g => g.Where(i => !kept.Contains(i))).ToList();
        return (keep, surplus);
    }

    /// <summary>
    /// Keeps the stale guard exact while writing only what changed: the guard compares the workload's generation
    /// with the highest <c>generation</c> label, and every created or updated Image already carries the current one.
    /// Only a pass that deleted and wrote nothing else relabels one kept Image (unless one is current already).
    /// Images left by the original cachier are adopted (given Cachier's labels) whenever anything is written.
    /// </summary>
    public static List<ImageState> Relabel(ImagePlan plan, List<ImageState> unchanged, int written, int deleted)
    {
        if (written + deleted == 0)
        {
            return [];
        }

        var relabel = unchanged.Where(i => !i.Managed).ToList();
        if (written == 0 && relabel.Count == 0 && unchanged.Count > 0 && !unchanged.Any(i => i.Generation == plan.Owner.Generation))
        {
            relabel.Add(unchanged[0]);
        }

        return relabel;
    }
}

/// <summary>
/// Bounded map from workload uid to a fingerprint of the plan last applied successfully. When an event's
/// object plans to the same fingerprint, nothing can have changed on our side: skip the LIST and all writes.
/// Drift made behind Cachier's back is the resync's job (it never consults the memo), but the resync may be hours
/// away: an entry expires after <paramref name="ttl"/>, so the memo cannot hide a repair (an Image deleted or edited
/// by hand) from the events for longer than that.
/// </summary>
public sealed class PlanMemo(int capacity, TimeSpan ttl, TimeProvider time)
{
    private readonly Dictionary<string, LinkedListNode<(string Uid, UInt128 Print, long At)>> _map = new(StringComparer.Ordinal);
    private readonly LinkedList<(string Uid, UInt128 Print, long At)> _order = new();

    public int Count
    {
        get
        {
            lock (_map)
            {
                return _map.Count;
            }
        }
    }

    public static UInt128 Fingerprint(ImagePlan plan)
    {
        var text = new StringBuilder()
            .Append(plan.Cache).Append('\n')
            .Append(plan.Owner.Generation).Append('\n')
            .AppendJoin('\n', plan.Images.Select(i => $"{i.Name}\t{i.Image}\t{i.ServiceAccountName}\t{string.Join(',', i.ImagePullSecrets)}"))
            .ToString();
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(text), hash);
        return new UInt128(BitConverter.ToUInt64(hash), BitConverter.ToUInt64(hash[8..]));
    }

    public bool Matches(string uid, UInt128 print)
    {
        lock (_map)
        {
            if (!_map.TryGetValue(uid, out var node) || node.Value.Print != print)
            {
                return false;
            }

            if (time.GetElapsedTime(node.Value.At) >= ttl)
            {
                _map.Remove(uid);
                _order.Remove(node);
                return false;
            }

            _order.Remove(node);
            _order.AddFirst(node);
            return true;
        }
    }

    public void Remember(string uid, UInt128 print)
    {
        if (capacity <= 0)
        {
            return;
        }

        lock (_map)
        {
            if (_map.Remove(uid, out var old))
            {
                _order.Remove(old);
            }

            _map[uid] = _order.AddFirst((uid, print, time.GetTimestamp()));
            if (_map.Count > capacity)
            {
                _map.Remove(_order.Last!.Value.Uid);
                _order.RemoveLast();
            }
        }
    }

    public void Forget(string uid)
    {
        lock (_map)
        {
            if (_map.Remove(uid, out var node))
            {
                _order.Remove(node);
            }
        }
    }
}
