using Cachier.Domain;

namespace Cachier.Reconcile;

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
