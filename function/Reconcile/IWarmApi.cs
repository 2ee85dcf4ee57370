using Cachier.Domain;

namespace Cachier.Reconcile;

/// <summary>The warmer's port: what it reads and writes. Expected answers (404, 409) are values; the rest is an <see cref="ApiException"/>.</summary>
public interface IWarmApi
{
    Task<IReadOnlyList<WarmNode>> ListNodesAsync(CancellationToken ct);

    /// <summary>One node; null when it is gone.</summary>
    Task<WarmNode?> GetNodeAsync(string name, CancellationToken ct);

    /// <summary>Every Image (cluster-wide, page by page), narrowed by the configured label selector.</summary>
    IAsyncEnumerable<IReadOnlyList<WarmTarget>> ListImagesToWarmAsync(CancellationToken ct);

    /// <summary>This warmer's pull pods, cluster-wide (labels <c>app.kubernetes.io/managed-by=cachier-warmer</c> and its scope).</summary>
    Task<IReadOnlyList<PullPod>> ListPullPodsAsync(CancellationToken ct);

    /// <summary>The owner's scheduling constraints; null when it cannot be read (gone, forbidden, another uid, no pod spec).</summary>
    Task<Scheduling?> GetSchedulingAsync(string ns, OwnerRef owner, CancellationToken ct);

    /// <returns><see cref="WriteResult.Conflict"/> when the pod exists already (another pass made it).</returns>
    Task<WriteResult> CreatePullPodAsync(NewPullPod pod, CancellationToken ct);

    /// <summary>Deletes with a uid precondition; 404 is fine.</summary>
    Task<WriteResult> DeletePullPodAsync(PullPod pod, CancellationToken ct);

    /// <summary>Replaces the Image's status subresource; 404 (Image deleted meanwhile) is fine.</summary>
    Task<WriteResult> WriteStatusAsync(StatusWrite write, CancellationToken ct);
}
