using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Cachier.Configuration;
using Cachier.Domain;
using Cachier.Reconcile;

namespace Cachier.Kubernetes;

/// <summary>
/// <see cref="IClusterApi"/> and <see cref="IWarmApi"/> over the Kubernetes REST API, through the one <see cref="KubeConnection"/>.
/// Plain REST rather than the generated <c>k8s.Kubernetes</c> client: under Native AOT that client roots its API surface
/// and JSON metadata for every Kubernetes model, which measured as about twice the idle memory (SPEC section 1;
/// bench/RESULTS.md keeps the idle RSS target this choice meets); plain REST also keeps the exact wire calls visible.
/// By job: this file, the reconciler's calls, each built as the request it is (the Image object by
/// <see cref="ImageResources"/>); <c>KubeApi.Requests.cs</c>, one request with its timeout, the connection's credentials, the retry (Retry-After,
/// jitter, 401 re-read) and errors as <see cref="ApiException"/>; <c>KubeApi.Lists.cs</c>, the paginated cluster-wide
/// LISTs; <c>KubeApi.Warm.cs</c> and <c>KubeApi.Events.cs</c>, the warmer's calls and Kubernetes Events.
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

    /// <summary>The Image API's discovery document (the start-up check): an <see cref="ApiException"/> when it is not served.</summary>
    public async Task GetImageApiAsync(CancellationToken ct)
    {
        using var response = await SendAsync(HttpMethod.Get, ImagesRoot, null, ct);
        await EnsureSuccessAsync(response, "GET", ImagesRoot, ct);
    }

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

    /// <summary>
    /// One GET: 404 is null (the object is gone), and 403 too when <paramref name="forbiddenIsNull"/> (the warmer's owners,
    /// of kinds it may not read); any other failure an <see cref="ApiException"/>.
    /// </summary>
    private async Task<T?> GetOrNullAsync<T>(string path, Func<JsonDocument, string, T?> read, CancellationToken ct, bool forbiddenIsNull = false)
        where T : class
    {
        using var response = await SendAsync(HttpMethod.Get, path, null, ct);
        if (response.StatusCode == HttpStatusCode.NotFound || (forbiddenIsNull && response.StatusCode == HttpStatusCode.Forbidden))
        {
            return null;
        }

        await EnsureSuccessAsync(response, "GET", path, ct);
        using var doc = await ParseAsync(response, "GET", path, ct);
        return read(doc, path);
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

/// <summary>Pure: the complete Image object for one desired image, owner reference and labels included.</summary>
public static class ImageResources
{
    public const string Group = "caching.internal.knative.dev";
    public const string Version = "v1alpha1";
    public const string ApiVersion = $"{Group}/{Version}";
    public const string ManagedBy = "app.kubernetes.io/managed-by";

    public static ImageObject Build(ImagePlan plan, DesiredImage image)
    {
        var owner = plan.Owner;
        return new ImageObject
        {
            ApiVersion = ApiVersion,
            Kind = "Image",
            Metadata = new ObjectMeta
            {
                Name = image.Name,
                Namespace = owner.Namespace,
                Labels = Labels(plan),
                OwnerReferences =
                [
                    new OwnerReference
                    {
                        ApiVersion = owner.ApiVersion, Kind = owner.Kind, Name = owner.Name, Uid = owner.Uid,
                        Controller = true, BlockOwnerDeletion = true,
                    },
                ],
            },
            Spec = new ImageSpec
            {
                Image = image.Image,
                ServiceAccountName = image.ServiceAccountName,
                ImagePullSecrets = Secrets(image),
            },
        };
    }

    /// <summary>cachier's <c>controller</c> label, the generation last written (%05d), and managed-by.</summary>
    public static Dictionary<string, string> Labels(ImagePlan plan) => new()
    {
        ["controller"] = plan.Owner.Uid,
        ["generation"] = plan.GenerationLabel,
        [ManagedBy] = "cachier",
    };

    public static List<NameRef>? Secrets(DesiredImage image) =>
        image.ImagePullSecrets.Count == 0 ? null : image.ImagePullSecrets.Select(s => new NameRef(s)).ToList();
}
