namespace Cachier.Domain;

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
