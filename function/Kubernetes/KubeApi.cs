using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Cachier.Domain;
using Cachier.Reconcile;

namespace Cachier.Kubernetes;

/// <summary>
/// <see cref="IClusterApi"/> over the Kubernetes REST API, through the one <see cref="KubeConnection"/>.
/// Plain REST keeps the exact wire calls visible and works the same under Native AOT, where Cachier's own JSON is
/// source-generated.
/// </summary>
public sealed partial class KubeApi(KubeConnectionSource source, CachierSettings settings) : IClusterApi, IWarmApi
{
    public const string ImagesRoot = $"/apis/{ImageResources.Group}/{ImageResources.Version}";

    private static readonly MediaTypeHeaderValue Json = new("application/json");
    private static readonly MediaTypeHeaderValue MergePatch = new("application/merge-patch+json");

    private static readonly TimeSpan MaxInProcessWait = TimeSpan.FromSeconds(1.2);

    public async Task<Workload?> GetWorkloadAsync(ResourceKind kind, string ns, string name, CancellationToken ct)
    {
        var path = $"{kind.CollectionPath(ns)}/{name}";
        using var response = await SendAsync(HttpMethod.Get, path, null, ct);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        await EnsureSuccessAsync(response, "GET", path, ct);
        using var doc = await ParseAsync(response, "GET", path, ct);
        return Read(doc.RootElement, kind, "GET", path);
    }

    public async Task<IReadOnlyList<ImageState>> ListImagesAsync(string ns, string controllerUid, CancellationToken ct)
    {
        var path = $"{ImagesRoot}/namespaces/{ns}/images?labelSelector={Uri.EscapeDataString($"controller={controllerUid}")}";
        var list = await ReadAsync(HttpMethod.Get, path, null, WireJson.Default.ImageList, ct);
        return list.Items.Select(ToState).ToList();
    }

    public async Task<ImageState?> GetImageAsync(string ns, string name, CancellationToken ct)
    {
        var path = $"{ImagesRoot}/namespaces/{ns}/images/{name}";
        using var response = await SendAsync(HttpMethod.Get, path, null, ct);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        await EnsureSuccessAsync(response, "GET", path, ct);
        using var doc = await ParseAsync(response, "GET", path, ct);
        return ToState(Deserialize(doc, WireJson.Default.ImageObject, "GET", path));
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

    private static Body Content<T>(T value, JsonTypeInfo<T> type, MediaTypeHeaderValue mediaType) =>
        new(JsonSerializer.SerializeToUtf8Bytes(value, type), mediaType);

    private async Task<T> ReadAsync<T>(HttpMethod method, string path, Body? content, JsonTypeInfo<T> type, CancellationToken ct)
    {
        using var response = await SendAsync(method, path, content, ct);
        await EnsureSuccessAsync(response, method.Method, path, ct);
        using var doc = await ParseAsync(response, method.Method, path, ct);
        return Deserialize(doc, type, method.Method, path);
    }

    /// <summary>An answer that is not JSON (empty, cut off) is a transient failure: 503, and the sender redelivers.</summary>
    private static async Task<JsonDocument> ParseAsync(HttpResponseMessage response, string verb, string path, CancellationToken ct)
    {
        try
        {
            return await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(ct), default, ct);
        }
        catch (Exception e) when (e is JsonException or HttpRequestException or IOException)
        {
            throw new ApiException(verb, path, null, $"unreadable answer: {e.Message}", inner: e);
        }
    }

    private static T Deserialize<T>(JsonDocument doc, JsonTypeInfo<T> type, string verb, string path)
    {
        try
        {
            return doc.Deserialize(type) ?? throw new JsonException("null");
        }
        catch (JsonException e)
        {
            throw new ApiException(verb, path, null, $"unexpected answer: {e.Message}", inner: e);
        }
    }

    /// <summary>A write: 404 and 409 are answers the reconciler expects; the rest must be 2xx.</summary>
    private async Task<WriteResult> WriteAsync(HttpMethod method, string path, Body content, CancellationToken ct)
    {
        using var response = await SendAsync(method, path, content, ct);
        switch (response.StatusCode)
        {
            case HttpStatusCode.NotFound:
                return WriteResult.NotFound;
            case HttpStatusCode.Conflict:
                return WriteResult.Conflict;
        }

        await EnsureSuccessAsync(response, method.Method, path, ct);
        return WriteResult.Done;
    }

    /// <summary>
    /// One call, with its own timeout, and a small bounded retry with jittered backoff for transient answers
    /// (no answer, 429, 5xx) that fits inside a sender's redelivery budget. Retrying writes is safe: names are
    /// deterministic and updates and deletes carry preconditions, so a repeated write meets 409 or 404.
    /// </summary>
    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, Body? body, CancellationToken ct)
    {
        var verb = method == HttpMethod.Get && path.Contains('?') ? "LIST" : method.Method;
        var waited = TimeSpan.Zero;
        var reauthenticated = false;
        for (var attempt = 0; ; attempt++)
        {
            var last = attempt >= settings.Options.ApiRetries;
            TimeSpan pause;
            try
            {
                var response = await SendOnceAsync(method, verb, path, body, ct);
                var status = (int)response.StatusCode;
                if (status == 401 && !reauthenticated)
                {
                    // Credentials refused: read them again and try once more; a second 401 is transient (503).
                    reauthenticated = true;
                    response.Dispose();
                    (await source.Connection).ForgetCredentials();
                    attempt--;
                    continue;
                }

                if (last || status is not (429 or >= 500) || RetryDelay(response) is not { } delay
                    || waited + (pause = Jitter(attempt, delay)) > MaxInProcessWait)
                {
                    return response;
                }

                response.Dispose();
            }
            catch (ApiException) when (!last)
            {
                pause = Jitter(attempt, TimeSpan.Zero);
                if (waited + pause > MaxInProcessWait)
                {
                    throw;
                }
            }

            // All the waiting of one call stays within MaxInProcessWait: past it the sender's own redelivery is better.
            waited += pause;
            await Task.Delay(pause, ct);
        }
    }

    private async Task<HttpResponseMessage> SendOnceAsync(HttpMethod method, string verb, string path, Body? body, CancellationToken ct)
    {
        var client = await source.Connection;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(settings.Options.ApiTimeout);
        using var request = new HttpRequestMessage(method, client.BaseUrl + path);
        if (body is { } b)
        {
            request.Content = new ByteArrayContent(b.Bytes);
            request.Content.Headers.ContentType = b.MediaType;
        }

        var started = Stopwatch.GetTimestamp();
        try
        {
            await client.AuthenticateAsync(request, timeout.Token);

            var response = await client.HttpClient.SendAsync(request, HttpCompletionOption.ResponseContentRead, timeout.Token);
            Telemetry.ApiRequest(verb, (int)response.StatusCode, started);
            return response;
        }
        catch (HttpRequestException e)
        {
            Telemetry.ApiRequest(verb, 0, started);
            throw new ApiException(verb, path, null, $"API server unreachable: {e.Message}", inner: e);
        }
        catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
        {
            Telemetry.ApiRequest(verb, 0, started);
            throw new ApiException(verb, path, null, $"no answer within {settings.Options.ApiTimeout.TotalSeconds:0.###} s", inner: e);
        }
    }

    /// <summary>The server's Retry-After when it is short enough to wait in-process; null = give the wait back to the sender.</summary>
    private static TimeSpan? RetryDelay(HttpResponseMessage response) =>
        RetryAfter(response) is not { } asked ? TimeSpan.Zero : asked <= MaxInProcessWait ? asked : null;

    /// <summary>The server's Retry-After, as seconds or as a date.</summary>
    private static TimeSpan? RetryAfter(HttpResponseMessage response) =>
        response.Headers.RetryAfter?.Delta ?? (response.Headers.RetryAfter?.Date is { } at ? at - DateTimeOffset.UtcNow : null);

    /// <summary>Full jitter over 50 ms, 100 ms, 200 ms... and never less than what the server asked for.</summary>
    private static TimeSpan Jitter(int attempt, TimeSpan atLeast) =>
        atLeast + TimeSpan.FromMilliseconds(Random.Shared.Next(10, 50 << Math.Min(attempt, 4)));

    /// <summary>A request body: bytes, so each retry sends a fresh HttpContent.</summary>
    private readonly record struct Body(byte[] Bytes, MediaTypeHeaderValue MediaType);

    private static async Task EnsureSuccessAsync(HttpResponseMessage response, string verb, string path, CancellationToken ct)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }

        string message;
        try
        {
            var status = await response.Content.ReadFromJsonAsync(WireJson.Default.StatusObject, ct);
            message = status?.Message ?? status?.Reason ?? response.ReasonPhrase ?? "";
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or InvalidOperationException)
        {
            message = response.ReasonPhrase ?? "";
        }

        throw new ApiException(verb, path, (int)response.StatusCode, $"{(int)response.StatusCode} {message}".TrimEnd(), RetryAfter(response));
    }
}
