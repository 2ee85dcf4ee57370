using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Cachier.Configuration;
using Cachier.Domain;
using Cachier.Reconcile;

namespace Cachier.Kubernetes;

/// <summary>
/// <see cref="IClusterApi"/> and <see cref="IWarmApi"/> over the Kubernetes REST API, through the one <see cref="KubeConnection"/>.
/// Plain REST rather than the generated <c>k8s.Kubernetes</c> client: under Native AOT that client roots its API surface
/// and JSON metadata for every Kubernetes model, which measured as about twice the idle memory (SPEC section 1;
/// bench/RESULTS.md keeps the idle RSS target this choice meets); plain REST also keeps the exact wire calls visible.
/// By job: this file, the calls and paging; <c>KubeApi.Send.cs</c>, one request with its timeout and the retry
/// (Retry-After, jitter, 401 re-read); <c>KubeApi.Answers.cs</c>, reading answers and turning errors into
/// <see cref="ApiException"/>; <c>KubeApi.Warm.cs</c>, the warmer's calls.
/// </summary>
public sealed partial class KubeApi(KubeConnectionSource source, CachierSettings settings) : IClusterApi, IWarmApi
{
    public const string ImagesRoot = $"/apis/{ImageResources.Group}/{ImageResources.Version}";

    private static readonly MediaTypeHeaderValue Json = new("application/json");
    private static readonly MediaTypeHeaderValue MergePatch = new("application/merge-patch+json");

    public Task<Workload?> GetWorkloadAsync(ResourceKind kind, string ns, string name, CancellationToken ct) =>
        GetOrNullAsync($"{kind.CollectionPath(ns)}/{name}", (doc, path) => Read(doc.RootElement, kind, "GET", path), ct);

    public async Task<IReadOnlyList<ImageState>> ListImagesAsync(string ns, string controllerUid, CancellationToken ct)
    {
        var path = $"{ImagesRoot}/namespaces/{ns}/images?labelSelector={Uri.EscapeDataString($"controller={controllerUid}")}";
        var list = await ReadAsync(HttpMethod.Get, path, null, WireJson.Default.ImageList, ct);
        return list.Items.Select(ToState).ToList();
    }

    public Task<ImageState?> GetImageAsync(string ns, string name, CancellationToken ct) =>
        GetOrNullAsync($"{ImagesRoot}/namespaces/{ns}/images/{name}", (doc, path) => ToState(Deserialize(doc, WireJson.Default.ImageObject, "GET", path)), ct);

    public Task<WriteResult> CreateImageAsync(ImagePlan plan, DesiredImage image, CancellationToken ct)
    {
        return WriteAsync(HttpMethod.Post, $"{ImagesRoot}/namespaces/{plan.Owner.Namespace}/images",
            Content(ImageResources.Build(plan, image), WireJson.Default.ImageObject, Json), ct);
    }

    public Task<WriteResult> UpdateImageAsync(ImagePlan plan, ImageState current, DesiredImage? desired, CancellationToken ct)
    {
        var patch = new ImagePatch
        {
            Metadata = new PatchMeta { ResourceVersion = current.ResourceVersion, Labels = ImageResources.Labels(plan) },
            Spec = desired is null ? null : new PatchSpec
            {
                Image = desired.Image == current.Image ? null : desired.Image,
                ServiceAccountName = desired.ServiceAccountName,
                ImagePullSecrets = ImageResources.Secrets(desired)
            },
        };
        return WriteAsync(HttpMethod.Patch, $"{ImagesRoot}/namespaces/{current.Namespace}/images/{current.Name}",
            Content(patch, WireJson.Default.ImagePatch, MergePatch), ct);
    }

    public Task<WriteResult> DeleteImageAsync(ImageState image, CancellationToken ct)
    {
        var options = new DeleteOptions { Preconditions = new Preconditions(image.Uid, image.ResourceVersion) };
        return WriteAsync(HttpMethod.Delete, $"{ImagesRoot}/namespaces/{image.Namespace}/images/{image.Name}",
            Content(options, WireJson.Default.DeleteOptions, Json), ct);
    }

    public IAsyncEnumerable<IReadOnlyList<Workload>> ListWorkloadsAsync(ResourceKind kind, CancellationToken ct) =>
        ListPagesAsync(kind.CollectionPath(), null, item => WorkloadReader.Read(item, kind), ct);

    public async IAsyncEnumerable<IReadOnlyList<ImageState>> ListAllImagesAsync([EnumeratorCancellation] CancellationToken ct)
    {
        string? token = null;
        do
        {
            var list = await ReadAsync(HttpMethod.Get, PagePath($"{ImagesRoot}/images", "controller", token), null, WireJson.Default.ImageList, ct);
            token = NextPage(token, list.Metadata?.Continue, "LIST images");
            yield return list.Items.Select(ToState).ToList();
        }
        while (!string.IsNullOrEmpty(token));
    }

    /// <summary>
    /// A cluster-wide LIST, page by page, each item read while its page is parsed. An item the reader cannot read
    /// (<see cref="FormatException"/>) fails the LIST: it is an answer Cachier did not expect.
    /// </summary>
    private async IAsyncEnumerable<IReadOnlyList<T>> ListPagesAsync<T>(string collection, string? labelSelector, Func<JsonElement, T> read,
        [EnumeratorCancellation] CancellationToken ct)
    {
        string? token = null;
        do
        {
            var path = PagePath(collection, labelSelector, token);
            using var response = await SendAsync(HttpMethod.Get, path, null, ct);
            await EnsureSuccessAsync(response, "LIST", path, ct);
            using var doc = await ParseAsync(response, "LIST", path, ct);
            var page = new List<T>();
            if (doc.RootElement.TryGetProperty("items", out var items) && items.ValueKind == JsonValueKind.Array)
            {
                try
                {
                    page.AddRange(items.EnumerateArray().Select(read));
                }
                catch (FormatException e)
                {
                    throw new ApiException("LIST", path, 200, $"unreadable object: {e.Message}");
                }
            }

            var next = doc.RootElement.TryGetProperty("metadata", out var meta) && meta.TryGetProperty("continue", out var c) ? c.GetString() : null;
            token = NextPage(token, next, path);
            yield return page;
        }
        while (!string.IsNullOrEmpty(token));
    }

    /// <summary>A server that hands back the token it was given would make the resync page forever.</summary>
    private static string? NextPage(string? current, string? next, string path) =>
        !string.IsNullOrEmpty(next) && next == current
            ? throw new ApiException("LIST", path, 200, "the API server returned the same continue token twice")
            : next;

    private string PagePath(string collection, string? labelSelector, string? token)
    {
        var query = new StringBuilder(collection).Append("?limit=").Append(settings.Options.ResyncPageSize);
        if (labelSelector is not null)
        {
            query.Append("&labelSelector=").Append(Uri.EscapeDataString(labelSelector));
        }

        if (!string.IsNullOrEmpty(token))
        {
            query.Append("&continue=").Append(Uri.EscapeDataString(token));
        }

        return query.ToString();
    }

    private static Workload Read(JsonElement element, ResourceKind kind, string verb, string path)
    {
        try
        {
            return WorkloadReader.Read(element, kind);
        }
        catch (FormatException e)
        {
            throw new ApiException(verb, path, 200, $"unreadable object: {e.Message}");
        }
    }

    internal static ImageState ToState(ImageObject image)
    {
        var meta = image.Metadata;
        var labels = meta.Labels ?? [];
        return new ImageState(
            meta.Namespace ?? "",
            meta.Name ?? "",
            meta.Uid ?? "",
            meta.ResourceVersion ?? "",
            labels.GetValueOrDefault("controller"),
            meta.OwnerReferences?.FirstOrDefault(o => o.Controller == true)?.Uid,
            labels.TryGetValue("generation", out var g) && long.TryParse(g, out var gen) ? gen : null,
            labels.GetValueOrDefault(ImageResources.ManagedBy) == "cachier",
            image.Spec.Image ?? "",
            string.IsNullOrEmpty(image.Spec.ServiceAccountName) ? null : image.Spec.ServiceAccountName,
            image.Spec.ImagePullSecrets?.Select(s => s.Name).OfType<string>().Where(s => s.Length > 0).ToList() ?? []);
    }
}
