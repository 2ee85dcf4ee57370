using Cachier.Domain;

namespace Cachier.Reconcile;

public enum WriteResult { Done, NotFound, Conflict }

/// <summary>
/// The only port the reconciler uses. Expected answers (404, 409) come back as values; anything else
/// is an <see cref="ApiException"/>.
/// </summary>
public interface IClusterApi
{
    Task<Workload?> GetWorkloadAsync(ResourceKind kind, string ns, string name, CancellationToken ct);

    Task<IReadOnlyList<ImageState>> ListImagesAsync(string ns, string controllerUid, CancellationToken ct);

    Task<ImageState?> GetImageAsync(string ns, string name, CancellationToken ct);

    /// <returns><see cref="WriteResult.Conflict"/> when the name already exists.</returns>
    Task<WriteResult> CreateImageAsync(ImagePlan plan, DesiredImage image, CancellationToken ct);

    /// <summary>Sets labels (and the spec when <paramref name="desired"/> is given), guarded by resourceVersion.</summary>
    Task<WriteResult> UpdateImageAsync(ImagePlan plan, ImageState current, DesiredImage? desired, CancellationToken ct);

    /// <summary>Deletes with uid and resourceVersion preconditions.</summary>
    Task<WriteResult> DeleteImageAsync(ImageState image, CancellationToken ct);

    /// <summary>Cluster-wide, page by page.</summary>
    IAsyncEnumerable<IReadOnlyList<Workload>> ListWorkloadsAsync(ResourceKind kind, CancellationToken ct);

    /// <summary>Every Image carrying a <c>controller</c> label, cluster-wide, page by page.</summary>
    IAsyncEnumerable<IReadOnlyList<ImageState>> ListAllImagesAsync(CancellationToken ct);
}

/// <summary>An API-server answer the reconciler did not expect. Classified by status code, never by text.</summary>
public sealed class ApiException(string verb, string path, int? statusCode, string message, TimeSpan? retryAfter = null, Exception? inner = null)
    : Exception($"{verb} {path}: {message}", inner)
{
    public string Verb { get; } = verb;

    public string Path { get; } = path;

    /// <summary>
    /// null when no HTTP answer came (refused, reset, timed out). 409 here means contention that outlasted the retries.
    /// 401 is transient: our credentials were refused even after reading them again (a token rotated, a clock skewed).
    /// </summary>
    public int? StatusCode { get; } = statusCode;

    public TimeSpan? RetryAfter { get; } = retryAfter;

    public bool IsTransient => StatusCode is null or 401 or 409 or 429 or >= 500;
}
