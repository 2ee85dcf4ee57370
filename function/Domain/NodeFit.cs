using System.Globalization;

namespace Cachier.Domain;

/// <summary>Pure: which nodes could run an owner's pods, and whether a node already reports an image.</summary>
public static class NodeFit
{
    /// <summary>
    /// Ready, schedulable, Linux (the pull pod runs a static Linux no-op), every NoSchedule/NoExecute taint
    /// tolerated, and the node selector and required node affinity met, as the scheduler would decide.
    /// </summary>
    public static bool Admits(WarmNode node, Scheduling scheduling)
    {
        if (!node.Ready || node.Unschedulable)
        {
            return false;
        }

        if (node.Labels.TryGetValue("kubernetes.io/os", out var os) && os != "linux")
        {
            return false;
        }

        // An owner that cannot be read: only nodes without any taint (SPEC 11).
        if (ReferenceEquals(scheduling, Scheduling.Unknown) ? node.Taints.Count > 0
            : node.Taints.Any(t => t.Effect is "NoSchedule" or "NoExecute" && !scheduling.Tolerations.Any(tol => Tolerates(tol, t))))
        {
            return false;
        }

        if (scheduling.NodeSelector.Any(s => !node.Labels.TryGetValue(s.Key, out var v) || v != s.Value))
        {
            return false;
        }

        return scheduling.RequiredTerms.Count == 0 || scheduling.RequiredTerms.Any(term => Matches(node, term));
    }

    /// <summary>Kubernetes' <c>Toleration.ToleratesTaint</c>.</summary>
    public static bool Tolerates(Toleration toleration, Taint taint)
    {
        if (!string.IsNullOrEmpty(toleration.Effect) && toleration.Effect != taint.Effect)
        {
            return false;
        }

        if (!string.IsNullOrEmpty(toleration.Key) && toleration.Key != taint.Key)
        {
            return false;
        }

        return toleration.Operator switch
        {
            "Exists" => true,
            "" or "Equal" => !string.IsNullOrEmpty(toleration.Key) && (toleration.Value ?? "") == (taint.Value ?? ""),
            _ => false,
        };
    }

    private static bool Matches(WarmNode node, NodeSelectorTerm term)
    {
        // An empty term matches nothing (as in the scheduler).
        if (term.MatchExpressions.Count == 0 && term.MatchFields.Count == 0)
        {
            return false;
        }

        return term.MatchExpressions.All(r => Meets(r, node.Labels.TryGetValue(r.Key, out var v) ? v : null))
            && term.MatchFields.All(r => r.Key == "metadata.name" && Meets(r, node.Name));
    }

    private static bool Meets(NodeRequirement r, string? value) => r.Operator switch
    {
        "In" => value is not null && r.Values.Contains(value),
        "NotIn" => value is null || !r.Values.Contains(value),
        "Exists" => value is not null,
        "DoesNotExist" => value is null,
        "Gt" => Compare(value, r.Values) > 0,
        "Lt" => Compare(value, r.Values) is < 0 and not int.MinValue,
        _ => false,
    };

    /// <returns>int.MinValue when either side is not a single integer (the requirement then fails).</returns>
    private static int Compare(string? value, IReadOnlyList<string> values) =>
        values.Count == 1 && long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var a)
            && long.TryParse(values[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out var b)
            ? a.CompareTo(b)
            : int.MinValue;

    /// <summary>
    /// The names a node reports for an image: Docker Hub short names are expanded (<c>nginx</c> ->
    /// <c>docker.io/library/nginx:latest</c>) as the container runtime records them.
    /// </summary>
    public static string Normalize(string image)
    {
        var name = image;
        var digest = "";
        var at = name.IndexOf('@', StringComparison.Ordinal);
        if (at >= 0)
        {
            digest = name[at..];
            name = name[..at];
        }

        var slash = name.IndexOf('/', StringComparison.Ordinal);
        var first = slash < 0 ? "" : name[..slash];
        var hasRegistry = slash >= 0 && (first.Contains('.', StringComparison.Ordinal) || first.Contains(':', StringComparison.Ordinal) || first == "localhost");
        if (!hasRegistry)
        {
            name = "docker.io/" + (slash < 0 ? "library/" + name : name);
        }
        else if (first is "docker.io" or "index.docker.io")
        {
            // Docker Hub spelled out: the runtime records docker.io/library/nginx for docker.io/nginx and index.docker.io/nginx too.
            var path = name[(slash + 1)..];
            name = "docker.io/" + (path.Contains('/', StringComparison.Ordinal) ? path : "library/" + path);
        }

        // A digest identifies the image alone: the runtime records it without the tag.
        var tag = name.IndexOf(':', name.LastIndexOf('/') + 1);
        if (digest.Length > 0)
        {
            return (tag >= 0 ? name[..tag] : name) + digest;
        }

        return tag >= 0 ? name : name + ":latest";
    }
}
