using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Cachier.Reconcile;

namespace Cachier.Kubernetes;

/// <summary>Answers: JSON read or an <see cref="ApiException"/> classified by status code (never by text).</summary>
public sealed partial class KubeApi
{
    /// <summary>One GET: 404 is null (the object is gone), any other failure an <see cref="ApiException"/>.</summary>
    private async Task<T?> GetOrNullAsync<T>(string path, Func<JsonDocument, string, T> read, CancellationToken ct) where T : class
    {
        using var response = await SendAsync(HttpMethod.Get, path, null, ct);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        await EnsureSuccessAsync(response, "GET", path, ct);
        using var doc = await ParseAsync(response, "GET", path, ct);
        return read(doc, path);
    }

    private async Task<T> ReadAsync<T>(HttpMethod method, string path, Body? content, JsonTypeInfo<T> type, CancellationToken ct)
    {
        using var response = await SendAsync(method, path, content, ct);
        await EnsureSuccessAsync(response, method.Method, path, ct);
        using var doc = await ParseAsync(response, method.Method, path, ct);
        return Deserialize(doc, type, method.Method, path);
    }

    private static Body Content<T>(T value, JsonTypeInfo<T> type, MediaTypeHeaderValue mediaType) =>
        new(JsonSerializer.SerializeToUtf8Bytes(value, type), mediaType);

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
