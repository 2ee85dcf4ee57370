using System.Text.RegularExpressions;
using Cachier.Domain;

namespace Cachier.Configuration;

/// <summary>The options, parsed once: what the rest of the service reads.</summary>
public sealed class CachierSettings
{
    // Built at its first use (the warmer's first pass), not with the settings: its scope is a SHA-256, and the first
    // hash loads OpenSSL, about 10 ms that the start's main thread would spend before the port opens, for a value
    // the images role never reads. The API server connection loads OpenSSL on its own thread meanwhile.
    private readonly Lazy<PullPodTemplate> _pullPodTemplate;

    public CachierSettings(CachierOptions options)
    {
        var resources = options.Resources.SelectMany(r => r.Split([',', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();
        Kinds = (resources.Count == 0 ? CachierOptions.DefaultResources : (IEnumerable<string>)resources)
            .Select(ResourceKind.Parse)
            .DistinctBy(k => (k.ApiVersion, k.Kind))
            .ToList();
        Filters = new ImageFilters(options.IncludeImages.Select(Compile).ToList(), options.ExcludeImages.Select(Compile).ToList());
        ExcludedNamespaces = options.ExcludedNamespaces.ToHashSet(StringComparer.Ordinal);
        Options = options;
        var w = options.Warmer;
        IsWarmer = string.Equals(options.Role, CachierOptions.RoleWarmer, StringComparison.OrdinalIgnoreCase);
        Limits = new WarmLimits(w.MaxPullPodsPerNode, w.MaxPullPods, w.ImagesPerPod, w.RetryBackoff, w.RetryBackoffMax, w.PulledGrace);
        _pullPodTemplate = new Lazy<PullPodTemplate>(() => new PullPodTemplate(
            w.HelperImage, w.HelperCommand.Count > 0 ? w.HelperCommand : ["/bin/cp", "/bin/true", "/warm/true"],
            w.RunAsUser, w.PullDeadline, PullPodTemplate.ScopeOf(string.IsNullOrWhiteSpace(w.ImageSelector) ? null : w.ImageSelector)));
    }

    public IReadOnlyList<ResourceKind> Kinds { get; }

    public ImageFilters Filters { get; }

    public IReadOnlySet<string> ExcludedNamespaces { get; }

    public CachierOptions Options { get; }

    public bool IsWarmer { get; }

    public WarmLimits Limits { get; }

    public PullPodTemplate PullPodTemplate => _pullPodTemplate.Value;

    private static Regex Compile(string pattern)
    {
        try
        {
            return new Regex(pattern, RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100));
        }
        catch (ArgumentException e)
        {
            throw new FormatException($"image pattern '{pattern}' is not a valid regular expression: {e.Message}");
        }
    }
}
