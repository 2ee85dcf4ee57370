using System.Net.Mime;
using System.Text.Json;
using Cachier.Configuration;
using CloudNative.CloudEvents;
using CloudNative.CloudEvents.SystemTextJson;

namespace Cachier.Http;

/// <summary>
/// Binds an HTTP request to CloudEvents (binary, structured and batch mode) on the core SDK's public helpers,
/// in place of the CloudNative.CloudEvents.AspNetCore package; the body is read within the process's <see cref="BodyBudget"/>
/// (below). What only structured and batch mode need is in <c>CloudEventBinding.Structured.cs</c>.
/// </summary>
public static partial class CloudEventBinding
{
    public const string StructuredMediaType = "application/cloudevents+json";
    public const string BatchMediaType = "application/cloudevents-batch+json";
    private const string HeaderPrefix = "ce-";

    private static readonly JsonEventFormatter Formatter = new();

    /// <summary>The ApiServerSource's extensions, declared as strings so that a number or a boolean is rejected.</summary>
    private static readonly CloudEventAttribute[] Extensions =
        new[] { "apiversion", "kind", "name", "namespace" }.Select(n => CloudEventAttribute.CreateExtension(n, CloudEventAttributeType.String)).ToArray();

    /// <param name="budget">this request's share of the process's body memory: the body is taken from it as it is read.</param>
    /// <exception cref="BindingException">413 (body or batch too large), 415, 400, or 503 (memory budget spent), with a message naming what was wrong.</exception>
    public static async Task<IReadOnlyList<CloudEvent>> ReadAsync(HttpRequest request, CachierOptions limits, BodyBudget.Lease budget, CancellationToken ct)
    {
        var maxBytes = limits.MaxRequestBodyBytes;
        var binary = request.Headers.ContainsKey("ce-specversion");
        if (string.IsNullOrWhiteSpace(request.ContentType))
        {
            // A binary-mode event without data (a PingSource without data) carries no Content-Type.
            if (binary && request.ContentLength is null or 0 && await budget.ReadBodyAsync(request, maxBytes, ct) is { Length: 0 })
            {
                return Decode(() => [Binary(request, ReadOnlyMemory<byte>.Empty, null)]);
            }

            throw new BindingException(415, "Content-Type is missing: send a CloudEvent in binary mode (ce-* headers) or structured mode (application/cloudevents+json)");
        }

        ContentType contentType;
        try
        {
            contentType = new ContentType(request.ContentType);
        }
        catch (FormatException)
        {
            throw new BindingException(415, $"Content-Type '{request.ContentType}' is not a valid media type");
        }

        var mediaType = contentType.MediaType.ToLowerInvariant();
        if (!binary && mediaType is not (StructuredMediaType or BatchMediaType))
        {
            throw new BindingException(415, $"Content-Type '{mediaType}' is not a CloudEvent: use binary mode (ce-specversion header) or {StructuredMediaType}");
        }

        var body = await budget.ReadBodyAsync(request, maxBytes, ct);
        if (!System.Text.Unicode.Utf8.IsValid(body.Span))
        {
            // JSON must be UTF-8; System.Text.Json would only notice when a string is read.
            throw new BindingException(400, "body is not valid UTF-8");
        }

        return Decode(() => mediaType switch
        {
            _ when binary => [Binary(request, body, contentType)],
            StructuredMediaType => [Validated(Formatter.DecodeStructuredModeMessage(StringExtensions(body), contentType, Extensions))],
            _ => Batch(body, contentType, limits.MaxBatchEvents),
        });
    }

    /// <summary>Whatever the SDK throws on bad input becomes a 400 that says why.</summary>
    private static IReadOnlyList<CloudEvent> Decode(Func<IReadOnlyList<CloudEvent>> decode)
    {
        try
        {
            return decode();
        }
        catch (Exception e) when (e is ArgumentException or JsonException or FormatException or InvalidOperationException or NotSupportedException)
        {
            throw new BindingException(400, $"malformed CloudEvent: {e.Message}");
        }
    }

    private static CloudEvent Binary(HttpRequest request, ReadOnlyMemory<byte> body, ContentType? contentType)
    {
        var version = request.Headers["ce-specversion"].ToString();
        var cloudEvent = new CloudEvent(CloudEventsSpecVersion.FromVersionId(version)
            ?? throw new BindingException(400, $"ce-specversion '{version}' is not a supported CloudEvents version (1.0)"), Extensions);
        foreach (var header in request.Headers)
        {
            if (header.Key.StartsWith(HeaderPrefix, StringComparison.OrdinalIgnoreCase) && !header.Key.Equals("ce-specversion", StringComparison.OrdinalIgnoreCase))
            {
                // Attribute values travel percent-encoded in binary HTTP mode.
                cloudEvent.SetAttributeFromString(header.Key[HeaderPrefix.Length..].ToLowerInvariant(), Uri.UnescapeDataString(header.Value.ToString()));
            }
        }

        // The distributed tracing extension travels as the W3C header itself in binary mode, without the ce- prefix.
        if (cloudEvent["traceparent"] is null && request.Headers.TryGetValue("traceparent", out var traceparent) && traceparent.Count == 1)
        {
            cloudEvent.SetAttributeFromString("traceparent", traceparent.ToString());
        }

        if (contentType is not null)
        {
            cloudEvent.DataContentType = contentType.ToString();
            Formatter.DecodeBinaryModeEventData(body, cloudEvent);
        }

        return Validated(cloudEvent);
    }

    private static CloudEvent Validated(CloudEvent cloudEvent) =>
        cloudEvent.IsValid
            ? cloudEvent
            : throw new BindingException(400, $"malformed CloudEvent: missing required attributes {string.Join(", ", cloudEvent.SpecVersion.RequiredAttributes.Where(a => cloudEvent[a] is null).Select(a => a.Name))}");
}

/// <summary>The budget's part in reading a body: a request's share taken as the body is read.</summary>
public sealed partial class BodyBudget
{
    public Lease Open() => new(this);

    private bool TryTake(long bytes)
    {
        while (true)
        {
            var used = Interlocked.Read(ref _used);
            if (used + bytes > capacity)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _used, used + bytes, used) == used)
            {
                return true;
            }
        }
    }

    public sealed partial class Lease
    {
        /// <exception cref="BindingException">503: the budget is spent by other requests for now.</exception>
        public void Take(long bytes)
        {
            if (!budget.TryTake(bytes))
            {
                throw new BindingException(StatusCodes.Status503ServiceUnavailable, "too many large requests at once; redeliver the event");
            }

            _held += bytes;
        }

        /// <summary>The whole body (at most <paramref name="maxBytes"/>), its share taken from the budget as it is read.</summary>
        /// <exception cref="BindingException">413 (too large), 400 (longer than its Content-Length, malformed), or 503 (budget spent).</exception>
        public async Task<ReadOnlyMemory<byte>> ReadBodyAsync(HttpRequest request, long maxBytes, CancellationToken ct)
        {
            try
            {
                return await ReadBudgetedBodyAsync(request, maxBytes, ct);
            }
            catch (BindingException e) when (e.Status is StatusCodes.Status503ServiceUnavailable or StatusCodes.Status413PayloadTooLarge)
            {
                await DrainAsync(request, e.Status, maxBytes, ct);
                throw;
            }
        }

        private async Task<ReadOnlyMemory<byte>> ReadBudgetedBodyAsync(HttpRequest request, long maxBytes, CancellationToken ct)
        {
            if (request.ContentLength > maxBytes)
            {
                throw new BindingException(413, $"body of {request.ContentLength} bytes is over the limit of {maxBytes} bytes");
            }

            // The decoded events hold about as much again as the body: a request takes twice its body from the budget.
            Take(2 * (request.ContentLength ?? 0));
            using var buffer = new MemoryStream((int)(request.ContentLength ?? 0));
            var chunk = new byte[16 * 1024];
            try
            {
                int read;
                while ((read = await request.Body.ReadAsync(chunk, ct)) > 0)
                {
                    if (buffer.Length + read > maxBytes)
                    {
                        throw new BindingException(413, $"body is over the limit of {maxBytes} bytes");
                    }

                    if (buffer.Length + read > request.ContentLength)
                    {
                        throw new BindingException(400, "body is longer than its Content-Length");
                    }

                    if (request.ContentLength is null)
                    {
                        Take(2 * read);
                    }

                    buffer.Write(chunk, 0, read);
                }
            }
            catch (BadHttpRequestException e)
            {
                // Kestrel's own MaxRequestBodySize, or a malformed chunked body.
                throw new BindingException(e.StatusCode, $"body could not be read: {e.Message}");
            }

            return buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
        }
    }
}
