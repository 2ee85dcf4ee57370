using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Cachier.Domain;
using Cachier.Reconcile;

namespace Cachier.Kubernetes;

/// <summary>The cluster-wide LISTs of a resync (and the warmer's), page by page; no event goes through them.</summary>
public sealed partial class KubeApi
{
    public IAsyncEnumerable<IReadOnlyList<Workload>> ListWorkloadsAsync(ResourceKind kind, CancellationToken ct) =>
        ListPagesAsync(kind.CollectionPath(), null, _notExcluded, item => WorkloadReader.Read(item, kind), ct);

    public async IAsyncEnumerable<IReadOnlyList<ImageState>> ListAllImagesAsync([EnumeratorCancellation] CancellationToken ct)
    {
        string? token = null;
        do
        {
            var list = await ReadAsync(HttpMethod.Get, PagePath($"{ImagesRoot}/images", "controller", _notExcluded, token), null, WireJson.Default.ImageList, ct);
            token = NextPage(token, list.Metadata?.Continue, "LIST images");
            yield return list.Items.Select(ToState).ToList();
        }
        while (!string.IsNullOrEmpty(token));
    }

    /// <summary>
    /// A cluster-wide LIST, page by page, each item read while its page is parsed. An item the reader cannot read
    /// (<see cref="FormatException"/>) fails the LIST: it is an answer Cachier did not expect.
    /// </summary>
    private async IAsyncEnumerable<IReadOnlyList<T>> ListPagesAsync<T>(string collection, string? labelSelector, string? fieldSelector, Func<JsonElement, T> read,
        [EnumeratorCancellation] CancellationToken ct)
    {
        string? token = null;
        do
        {
            var path = PagePath(collection, labelSelector, fieldSelector, token);
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

    /// <summary>
    /// The resync's LISTs leave out the excluded namespaces on the API server's side (<c>metadata.namespace!=</c>, a field
    /// selector served for every kind): what Cachier would only skip is neither encoded nor read. Null: none excluded.
    /// </summary>
    private readonly string? _notExcluded = settings.ExcludedNamespaces.Count == 0 ? null
        : string.Join(',', settings.ExcludedNamespaces.Order(StringComparer.Ordinal).Select(ns => $"metadata.namespace!={ns}"));

    private string PagePath(string collection, string? labelSelector, string? fieldSelector, string? token)
    {
        var query = new StringBuilder(collection).Append("?limit=").Append(settings.Options.ResyncPageSize);
        if (labelSelector is not null)
        {
            query.Append("&labelSelector=").Append(Uri.EscapeDataString(labelSelector));
        }

        if (fieldSelector is not null)
        {
            query.Append("&fieldSelector=").Append(Uri.EscapeDataString(fieldSelector));
        }

        if (!string.IsNullOrEmpty(token))
        {
            query.Append("&continue=").Append(Uri.EscapeDataString(token));
        }

        return query.ToString();
    }
}
