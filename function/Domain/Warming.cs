namespace Cachier.Domain;

// The warmer's own narrow projections (SPEC section 11): what the warm planner needs of nodes, Images, the
// owners' scheduling constraints and the pull pods, and nothing else. Built by Kubernetes/WarmReader.

/// <summary>A node as the warmer sees it.</summary>
public sealed record WarmNode(
    string Name,
    bool Ready,
    bool Unschedulable,
    IReadOnlyDictionary<string, string> Labels,
    IReadOnlyList<Taint> Taints,
    IReadOnlySet<string> Images)
{
    /// <summary>Everything the warmer reads of a node is the same (the record's own equality compares the collections by reference).</summary>
    public bool SameAs(WarmNode other) =>
        Name == other.Name && Ready == other.Ready && Unschedulable == other.Unschedulable
        && Labels.Count == other.Labels.Count && Labels.All(l => other.Labels.TryGetValue(l.Key, out var v) && v == l.Value)
        && Taints.SequenceEqual(other.Taints) && Images.SetEquals(other.Images);
}

public sealed record Taint(string Key, string? Value, string Effect);

public sealed record Toleration(string? Key, string Operator, string? Value, string? Effect);

/// <summary>One requirement of a node selector term: key, operator (In, NotIn, Exists, DoesNotExist, Gt, Lt), values.</summary>
public sealed record NodeRequirement(string Key, string Operator, IReadOnlyList<string> Values);

/// <summary>Terms are ORed; the requirements of a term are ANDed (fields: <c>metadata.name</c> only).</summary>
public sealed record NodeSelectorTerm(IReadOnlyList<NodeRequirement> MatchExpressions, IReadOnlyList<NodeRequirement> MatchFields);

/// <summary>Where an owner's pods may run: node selector, required node affinity, tolerations.</summary>
public sealed record Scheduling(
    IReadOnlyDictionary<string, string> NodeSelector,
    IReadOnlyList<NodeSelectorTerm> RequiredTerms,
    IReadOnlyList<Toleration> Tolerations)
{
    /// <summary>An Image whose owner cannot be read: any node without taints (SPEC 11).</summary>
    public static readonly Scheduling Unknown = new(new Dictionary<string, string>(), [], []);
}

/// <summary>What the warmer last recorded for one node in an Image's status (<c>status.annotations</c>).</summary>
public sealed record NodeRecord(string State, DateTimeOffset Since, int Attempts = 0, string? Message = null)
{
    public const string Pulled = "Pulled";
    public const string Pulling = "Pulling";
}

/// <summary>An Image to warm, with its owner's scheduling (null: the owner could not be read).</summary>
public sealed record WarmImage(
    string Namespace,
    string Name,
    long Generation,
    string Image,
    string? ServiceAccountName,
    IReadOnlyList<string> ImagePullSecrets,
    Scheduling? Scheduling,
    ImageStatus Status)
{
    public Credentials Credentials => new(ServiceAccountName, ImagePullSecrets);
}

/// <summary>The controller owner an Image names (Cachier's workloads, Knative Serving's Revisions, ...).</summary>
public sealed record OwnerRef(string ApiVersion, string Kind, string Name, string Uid);

/// <summary>An Image read for warming, and the owner whose pod template decides its nodes.</summary>
public sealed record WarmTarget(WarmImage Image, OwnerRef? Owner);

/// <summary>
/// The pull pod's fixed parts, from <c>Cachier:Warmer</c>. <paramref name="Scope"/> marks the pods of warmers with one
/// Image selector: a warmer lists (and so deletes) only its own pull pods, never those of a warmer with another selector.
/// </summary>
public sealed record PullPodTemplate(string HelperImage, IReadOnlyList<string> HelperCommand, long RunAsUser, TimeSpan Deadline, string Scope)
{
    public static string ScopeOf(string? imageSelector) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(imageSelector ?? "")))[..10];
}

/// <summary>The pull credentials: Images of one namespace with equal credentials share pull pods.</summary>
public sealed record Credentials(string? ServiceAccountName, IReadOnlyList<string> ImagePullSecrets)
{
    /// <summary>No service account and <c>default</c> are the same: the API server fills in <c>default</c>.</summary>
    public string Key => $"{(ServiceAccountName is null or "default" ? "" : ServiceAccountName)}|{string.Join(',', ImagePullSecrets)}";

    /// <summary>The inverse of <see cref="Key"/>.</summary>
    public static Credentials Parse(string key)
    {
        var bar = key.IndexOf('|', StringComparison.Ordinal);
        var (sa, secrets) = bar < 0 ? (key, "") : (key[..bar], key[(bar + 1)..]);
        return new Credentials(sa.Length == 0 ? null : sa, secrets.Split(',', StringSplitOptions.RemoveEmptyEntries));
    }

    public bool Equals(Credentials? other) => other is not null && Key == other.Key;

    public override int GetHashCode() => Key.GetHashCode(StringComparison.Ordinal);
}

/// <summary>The status the warmer writes on an Image (Knative duck: conditions, observedGeneration, annotations).</summary>
public sealed record ImageStatus(
    string? Ready,
    string? Reason,
    string? Message,
    DateTimeOffset? LastTransition,
    long ObservedGeneration,
    IReadOnlyDictionary<string, NodeRecord> Nodes)
{
    public static readonly ImageStatus None = new(null, null, null, null, 0, new Dictionary<string, NodeRecord>());

    /// <summary>Equal for writing purposes: the transition time follows the condition.</summary>
    public bool SameAs(ImageStatus other) =>
        Ready == other.Ready && Reason == other.Reason && Message == other.Message && ObservedGeneration == other.ObservedGeneration
        && Nodes.Count == other.Nodes.Count && Nodes.All(n => other.Nodes.TryGetValue(n.Key, out var o) && o == n.Value);
}

/// <summary>How far one container of a pull pod got.</summary>
public enum PullState { Waiting, Pulled, Failed }

public sealed record ContainerPull(string Image, PullState State, string? Reason, string? Message);

/// <summary>A pull pod that exists: which node, which Images' credentials, how far each container got.</summary>
public sealed record PullPod(
    string Namespace,
    string Name,
    string Uid,
    string Node,
    Credentials Credentials,
    DateTimeOffset Created,
    bool Deleting,
    bool Finished,
    string? FailureReason,
    string? FailureMessage,
    IReadOnlyList<ContainerPull> Containers);

/// <summary>A pull pod to create. Its name is deterministic, so concurrent passes can never create two.</summary>
public sealed record NewPullPod(string Namespace, string Name, string Node, Credentials Credentials, Scheduling Scheduling, IReadOnlyList<string> Images);

public sealed record StatusWrite(string Namespace, string Name, ImageStatus Status);

/// <summary>
/// Everything one warm pass should change: pods to create and delete, statuses to write. <paramref name="Settled"/>:
/// no pull pod exists or is wanted and every record comes from the nodes' own image lists, so nothing in the plan
/// depends on the time (no pull, grace period, backoff or queue): the same inputs plan nothing new later.
/// </summary>
public sealed record WarmPlan(
    IReadOnlyList<NewPullPod> Create,
    IReadOnlyList<PullPod> Delete,
    IReadOnlyList<StatusWrite> Statuses,
    bool Settled = false);

/// <summary>The warmer's bounds and timings (from <c>Cachier:Warmer</c>).</summary>
public sealed record WarmLimits(
    int MaxPodsPerNode,
    int MaxPods,
    int ImagesPerPod,
    TimeSpan RetryBase,
    TimeSpan RetryMax,
    TimeSpan PulledGrace)
{
    public static readonly WarmLimits Default = new(2, 20, 8, TimeSpan.FromSeconds(30), TimeSpan.FromMinutes(10), TimeSpan.FromMinutes(10));

    /// <summary>Exponential: base, 2 x base, ... up to the maximum.</summary>
    public TimeSpan Backoff(int attempts) =>
        TimeSpan.FromTicks(Math.Min(RetryMax.Ticks, RetryBase.Ticks * (1L << Math.Clamp(attempts - 1, 0, 20))));
}
