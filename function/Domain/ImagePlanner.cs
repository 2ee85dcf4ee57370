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
