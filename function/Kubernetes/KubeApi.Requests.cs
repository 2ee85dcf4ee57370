using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Cachier.Diagnostics;
using Cachier.Reconcile;
using k8s.Authentication;

namespace Cachier.Kubernetes;

/// <summary>
/// One request: sent with its own timeout and the bounded in-process retry (Retry-After, jitter, 401 re-read), its
/// answer read as JSON or turned into an <see cref="ApiException"/> classified by status code (never by text).
/// </summary>
public sealed partial class KubeApi
{
    private static readonly TimeSpan MaxInProcessWait = TimeSpan.FromSeconds(1.2);

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
            Telemetry.ApiRequest(verb, path, (int)response.StatusCode, started);
            return response;
        }
        catch (HttpRequestException e)
        {
            Telemetry.ApiRequest(verb, path, 0, started);
            throw new ApiException(verb, path, null, $"API server unreachable: {e.Message}", inner: e);
        }
        catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
        {
            Telemetry.ApiRequest(verb, path, 0, started);
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

/// <summary>What each request takes from the connection: its credentials, and a fresh read of them after a 401.</summary>
public sealed partial class KubeConnection
{
    /// <summary>The ServiceAccount token that kubelet mounts and rotates: what KubernetesClient's in-cluster configuration reads.</summary>
    private const string InClusterTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token";

    public async ValueTask AuthenticateAsync(HttpRequestMessage request, CancellationToken ct) =>
        request.Headers.Authorization = _tokens is null ? _header : await _tokens.GetAuthenticationHeaderAsync(ct);

    /// <summary>
    /// The API server refused our credentials (401): the in-cluster token may have been rotated under us. The next
    /// request reads the token file again instead of waiting for its re-read minute. A fixed token cannot be re-read.
    /// </summary>
    public void ForgetCredentials()
    {
        if (_tokens is TokenFileAuth && File.Exists(InClusterTokenFile))
        {
            // A fresh provider reads the file at its first use (KubernetesClient's own re-reads it once a minute).
            _tokens = new TokenFileAuth(InClusterTokenFile);
        }
    }
}
