namespace Cachier.Domain;

/// <summary>Which object an event is about: enough to find it, never enough to trust it.</summary>
public sealed record WorkloadRef(string ApiVersion, string Kind, string Namespace, string Name)
{
    public override string ToString() => $"{Kind} {Namespace}/{Name}";
}

/// <summary>
/// Cachier's narrow projection of a workload: everything the plan depends on, and nothing else.
/// Built from the API object by <c>Kubernetes.WorkloadReader</c>; the planner never sees JSON.
/// </summary>
public sealed record Workload(
    string ApiVersion,
    string Kind,
    string Namespace,
    string Name,
    string Uid,
    long Generation,
    string? Decorate,
    bool HasController,
    PodTemplate? Pod)
{
    public WorkloadRef Ref => new(ApiVersion, Kind, Namespace, Name);
}

/// <summary>The parts of a pod spec that end up in Images. <c>null</c> Pod = no pod spec shape found.</summary>
public sealed record PodTemplate(
    IReadOnlyList<string> Images,
    string? ServiceAccountName,
    IReadOnlyList<string> ImagePullSecrets)
{
    /// <summary>Where a pod spec may live, in order: PodSpecable duck type, CronJob, Pod.</summary>
    public const string Shapes = "spec.template.spec, spec.jobTemplate.spec.template.spec or spec.containers";
}

/// <summary>One Image as Cachier wants it to be.</summary>
public sealed record DesiredImage(
    string Name,
    string Image,
    string? ServiceAccountName,
    IReadOnlyList<string> ImagePullSecrets);

/// <summary>
/// The complete desired state for one workload: every field the Image objects carry. <paramref name="Applies"/> false:
/// the object has no pod spec, so Images are none of its business (ignored, nothing listed or deleted).
/// </summary>
public sealed record ImagePlan(
    Workload Owner,
    bool Cache,
    string Reason,
    IReadOnlyList<DesiredImage> Images,
    bool Applies = true)
{
    public string GenerationLabel => Owner.Generation.ToString("D5", System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>What Cachier knows of an existing Image: only what the diff needs (a small constant per Image).</summary>
public sealed record ImageState(
    string Namespace,
    string Name,
    string Uid,
    string ResourceVersion,
    string? ControllerLabel,
    string? OwnerUid,
    long? Generation,
    bool Managed,
    string Image,
    string? ServiceAccountName,
    IReadOnlyList<string> ImagePullSecrets)
{
    public bool BelongsTo(string workloadUid) => ControllerLabel == workloadUid || OwnerUid == workloadUid;

    public bool SameSpec(DesiredImage desired) =>
        Image == desired.Image && ServiceAccountName == desired.ServiceAccountName && ImagePullSecrets.SequenceEqual(desired.ImagePullSecrets);
}
