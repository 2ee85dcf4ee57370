using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Cachier.Domain;
using Cachier.Reconcile;

namespace Cachier.Plan;

/// <summary>
/// The reconciler's port with every write taken down instead of sent: reads go to the API server, a create, update or
/// delete is noted and answered "done". The reconciler, its planner, diff and guards run unchanged on top of it, so the
/// plan is what a resync would do now, decided by the same code; nothing is written.
/// </summary>
public sealed class DryRunApi(IClusterApi reads) : IClusterApi
{
    private readonly ConcurrentDictionary<string, Workload> _listed = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, WorkloadChanges> _changes = new(StringComparer.Ordinal);

    /// <summary>The writes a real run would send, by workload, in a stable order.</summary>
    public IReadOnlyList<WorkloadChanges> Changes => _changes.Values
        .OrderBy(c => c.Namespace, StringComparer.Ordinal).ThenBy(c => c.Kind, StringComparer.Ordinal).ThenBy(c => c.Name, StringComparer.Ordinal)
        .ToList();

    public Task<Workload?> GetWorkloadAsync(ResourceKind kind, string ns, string name, CancellationToken ct) => reads.GetWorkloadAsync(kind, ns, name, ct);

    public Task<IReadOnlyList<ImageState>> ListImagesAsync(string ns, string controllerUid, CancellationToken ct) => reads.ListImagesAsync(ns, controllerUid, ct);

    public Task<ImageState?> GetImageAsync(string ns, string name, CancellationToken ct) => reads.GetImageAsync(ns, name, ct);

    public Task<WriteResult> CreateImageAsync(ImagePlan plan, DesiredImage image, CancellationToken ct) =>
        Note(plan.Owner, c => c.Create.Add(new PlannedImage(image.Name, image.Image)));

    public Task<WriteResult> UpdateImageAsync(ImagePlan plan, ImageState current, DesiredImage? desired, CancellationToken ct) =>
        Note(plan.Owner, c => c.Update.Add(new PlannedImage(current.Name, desired?.Image ?? current.Image,
            desired is null || current.SameSpec(desired) ? "labels" : ChangeOf(current, desired))));

    public Task<WriteResult> DeleteImageAsync(ImageState image, CancellationToken ct)
    {
        var owner = image.ControllerLabel ?? image.OwnerUid;
        return owner is not null && _listed.TryGetValue(owner, out var workload)
            ? Note(workload, c => c.Delete.Add(new PlannedImage(image.Name, image.Image)))
            : Task.FromResult(WriteResult.Done);
    }

    public async IAsyncEnumerable<IReadOnlyList<Workload>> ListWorkloadsAsync(ResourceKind kind, [EnumeratorCancellation] CancellationToken ct)
    {
        await foreach (var page in reads.ListWorkloadsAsync(kind, ct))
        {
            foreach (var workload in page)
            {
                _listed[workload.Uid] = workload;
            }

            yield return page;
        }
    }

    public IAsyncEnumerable<IReadOnlyList<ImageState>> ListAllImagesAsync(CancellationToken ct) => reads.ListAllImagesAsync(ct);

    private Task<WriteResult> Note(Workload owner, Action<WorkloadChanges> change)
    {
        var changes = _changes.GetOrAdd(owner.Uid, _ => new WorkloadChanges(owner.Kind, owner.Namespace, owner.Name));
        lock (changes)
        {
            change(changes);
        }

        return Task.FromResult(WriteResult.Done);
    }

    private static string ChangeOf(ImageState current, DesiredImage desired) =>
        current.Image != desired.Image ? $"image {current.Image}"
        : current.ServiceAccountName != desired.ServiceAccountName ? $"serviceAccountName {current.ServiceAccountName ?? "(none)"}"
        : $"imagePullSecrets [{string.Join(",", current.ImagePullSecrets)}]";
}

/// <summary>One Image in the plan. <paramref name="Was"/>: for an update, what changes from (or "labels" when only they do).</summary>
public sealed record PlannedImage(string Name, string Image, string? Was = null);

/// <summary>The Images one workload's reconcile would create, update and delete.</summary>
public sealed record WorkloadChanges(string Kind, string Namespace, string Name)
{
    public List<PlannedImage> Create { get; } = [];

    public List<PlannedImage> Update { get; } = [];

    public List<PlannedImage> Delete { get; } = [];
}
