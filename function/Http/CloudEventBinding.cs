using System.Net.Mime;
using System.Text.Json;
using Cachier.Configuration;
using CloudNative.CloudEvents;
using CloudNative.CloudEvents.SystemTextJson;

namespace Cachier.Http;

/// <summary>
/// Binds an HTTP request to CloudEvents (binary, structured and batch mode) on the core SDK's public helpers,
/// in place of the CloudNative.CloudEvents.AspNetCore package.
/// </summary>
public static class CloudEventBinding
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
        var events = await ReadAsync(request, limits.MaxRequestBodyBytes, budget, ct);
        return events.Count <= limits.MaxBatchEvents
            ? events
            : throw new BindingException(413, $"the batch holds {events.Count} events, over the limit of {limits.MaxBatchEvents}");
    }

    private static async Task<IReadOnlyList<CloudEvent>> ReadAsync(HttpRequest request, long maxBytes, BodyBudget.Lease budget, CancellationToken ct)
    {
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
            _ => Formatter.DecodeBatchModeMessage(StringExtensions(body), contentType, Extensions).Select(Validated).ToList() is { Count: > 0 } batch
                ? batch
                : throw new BindingException(400, "the batch holds no CloudEvent"),
        });
    }

    /// <summary>
    /// The SDK turns a number or boolean given for a string extension into its text (<c>"name": true</c> would name
    /// object "true"): one forward-only pass over the top level of each event refuses that.
    /// </summary>
    private static ReadOnlyMemory<byte> StringExtensions(ReadOnlyMemory<byte> body)
    {
        var reader = new Utf8JsonReader(body.Span, new JsonReaderOptions { MaxDepth = 64 });
        var depth = 0;
        while (reader.Read())
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.StartObject:
                    depth++;
                    break;
                case JsonTokenType.EndObject:
                    depth--;
                    break;
                case JsonTokenType.PropertyName when depth == 1:
                    var name = reader.GetString();
                    reader.Read();
                    if (Extensions.Any(e => e.Name == name) && reader.TokenType is not (JsonTokenType.String or JsonTokenType.Null))
                    {
                        throw new JsonException($"extension '{name}' must be a string, not {reader.TokenType}");
                    }

                    reader.Skip();
                    break;
            }
        }

        return body;
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
