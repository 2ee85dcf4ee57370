using System.Net.Mime;
using System.Text.Json;
using CloudNative.CloudEvents;

namespace Cachier.Http;

/// <summary>What only structured and batch mode need: extensions checked as strings, a batch's bounds.</summary>
public static partial class CloudEventBinding
{
    private static List<CloudEvent> Batch(ReadOnlyMemory<byte> body, ContentType contentType, int maxEvents)
    {
        var events = Formatter.DecodeBatchModeMessage(StringExtensions(body), contentType, Extensions).Select(Validated).ToList();
        return events.Count switch
        {
            0 => throw new BindingException(400, "the batch holds no CloudEvent"),
            var n when n > maxEvents => throw new BindingException(413, $"the batch holds {n} events, over the limit of {maxEvents}"),
            _ => events,
        };
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
}
