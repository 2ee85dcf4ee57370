using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using CloudNative.CloudEvents;
using CloudNative.CloudEvents.SystemTextJson;

namespace Cachier.Tests.Support;

/// <summary>
/// The tests' one CloudEvent sender: events as the ApiServerSource adapter sends them (binary mode: <c>ce-*</c> headers,
/// the data as application/json; or structured mode), and the answers Cachier gives.
/// </summary>
public static class CloudEvents
{
    public const string Source = "https://10.96.0.1:443";

    private static readonly JsonEventFormatter Formatter = new();

    /// <summary>
    /// A binary-mode event: the four required attributes, <paramref name="extensions"/> as <c>ce-*</c> headers.
    /// <paramref name="overrides"/> replaces headers (an empty value removes one).
    /// </summary>
    public static HttpRequestMessage Binary(string type, JsonNode? data, IReadOnlyDictionary<string, string>? extensions = null,
        IReadOnlyDictionary<string, string>? overrides = null, string? contentType = "application/json")
    {
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (key, value) in Attributes(type, extensions))
        {
            headers["ce-" + key] = value;
        }

        foreach (var (key, value) in overrides ?? new Dictionary<string, string>())
        {
            if (value.Length == 0)
            {
                headers.Remove(key);
            }
            else
            {
                headers[key] = value;
            }
        }

        var request = new HttpRequestMessage(HttpMethod.Post, "/") { Content = Body(data?.ToJsonString() ?? "", contentType) };
        foreach (var (key, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(key, value);
        }

        return request;
    }

    /// <summary>A structured-mode event: every attribute and the data in one application/cloudevents+json body.</summary>
    public static HttpRequestMessage Structured(string type, JsonNode data, IReadOnlyDictionary<string, string>? extensions = null)
    {
        var envelope = new JsonObject();
        foreach (var (key, value) in Attributes(type, extensions))
        {
            envelope[key] = value;
        }

        envelope["datacontenttype"] = "application/json";
        envelope["data"] = data.DeepClone();
        return new HttpRequestMessage(HttpMethod.Post, "/") { Content = Body(envelope.ToJsonString(), "application/cloudevents+json") };
    }

    /// <summary>A Reference-mode event: data = the object reference, the extensions set.</summary>
    public static HttpRequestMessage Ref(string verb, string apiVersion, string kind, string ns, string name, bool structured = false)
    {
        var type = $"dev.knative.apiserver.ref.{verb}";
        var data = new JsonObject { ["kind"] = kind, ["namespace"] = ns, ["name"] = name, ["apiVersion"] = apiVersion };
        var extensions = Extensions(apiVersion, kind, ns, name);
        return structured ? Structured(type, data, extensions) : Binary(type, data, extensions);
    }

    /// <summary>A Resource-mode event: data = the whole object, extensions taken from it.</summary>
    public static HttpRequestMessage Resource(string verb, JsonObject workload, bool structured = false)
    {
        var type = $"dev.knative.apiserver.resource.{verb}";
        var metadata = workload["metadata"]!;
        var extensions = Extensions((string)workload["apiVersion"]!, (string)workload["kind"]!, (string)metadata["namespace"]!, (string)metadata["name"]!);
        return structured ? Structured(type, workload, extensions) : Binary(type, workload, extensions);
    }

    /// <summary>The extensions the adapter sets, and the subject.</summary>
    public static Dictionary<string, string> Extensions(string apiVersion, string kind, string ns, string name) => new()
    {
        ["apiversion"] = apiVersion,
        ["kind"] = kind,
        ["namespace"] = ns,
        ["name"] = name,
        ["subject"] = $"/apis/{apiVersion}/namespaces/{ns}/{kind.ToLowerInvariant()}s/{name}",
    };

    /// <summary>
    /// A sample of testassets/samples in binary mode, exactly as the adapter sends it: every attribute of the structured
    /// form but data and datacontenttype as a <c>Ce-*</c> header, the data file as the body, and <c>Kn-Namespace</c>.
    /// </summary>
    public static HttpRequestMessage SampleBinary(string structuredFile, string dataFile)
    {
        var structured = JsonNode.Parse(Sample(structuredFile))!.AsObject();
        var request = new HttpRequestMessage(HttpMethod.Post, "/")
        {
            Content = Body(Sample(dataFile), (string)structured["datacontenttype"]!),
        };
        foreach (var (name, value) in structured)
        {
            if (name is not ("data" or "datacontenttype"))
            {
                request.Headers.TryAddWithoutValidation("Ce-" + char.ToUpperInvariant(name[0]) + name[1..], (string)value!);
            }
        }

        request.Headers.TryAddWithoutValidation("Kn-Namespace", "cachier");
        return request;
    }

    public static string Sample(string file) =>
        File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "testassets", "samples", file));

    /// <summary>
    /// A CloudEvent as the HTTP binding hands it to the parser (no request): only the required attributes and,
    /// optionally, JSON data.
    /// </summary>
    public static CloudEvent Bound(string type, string? json)
    {
        var cloudEvent = new CloudEvent
        {
            Id = Guid.NewGuid().ToString(),
            Source = new Uri(CloudEvents.Source),
            Type = type,
        };
        if (json is not null)
        {
            cloudEvent.DataContentType = "application/json";
            Formatter.DecodeBinaryModeEventData(Encoding.UTF8.GetBytes(json), cloudEvent);
        }

        return cloudEvent;
    }

    /// <summary>A body of <paramref name="text"/> with exactly <paramref name="mediaType"/> (no charset added).</summary>
    public static ByteArrayContent Body(string text, string? mediaType)
    {
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(text));
        if (mediaType is not null)
        {
            content.Headers.ContentType = MediaTypeHeaderValue.Parse(mediaType);
        }

        return content;
    }

    // ---- answers -----------------------------------------------------------------------------------------

    /// <summary>Sends <paramref name="request"/> (and disposes it); the status and the JSON body.</summary>
    public static async Task<(HttpStatusCode Status, JsonObject Body)> SendAsync(HttpClient client, HttpRequestMessage request)
    {
        using (request)
        {
            using var response = await client.SendAsync(request);
            var body = await response.Content.ReadAsStringAsync();
            return (response.StatusCode, JsonNode.Parse(body)!.AsObject());
        }
    }

    /// <summary>A Reference-mode event sent by <paramref name="client"/>; the status and the JSON body.</summary>
    public static Task<(HttpStatusCode Status, JsonObject Body)> SendRefAsync(
        HttpClient client, string verb, string apiVersion, string kind, string ns, string name, bool structured = false) =>
        SendAsync(client, Ref(verb, apiVersion, kind, ns, name, structured));

    /// <summary>A Resource-mode event (structured unless told) sent by <paramref name="client"/>; the status and the JSON body.</summary>
    public static Task<(HttpStatusCode Status, JsonObject Body)> SendResourceAsync(HttpClient client, string verb, JsonObject workload, bool structured = true) =>
        SendAsync(client, Resource(verb, workload, structured));

    /// <summary>One delivery of a Reference-mode Deployment event: status, Retry-After seconds (0 when none), JSON body.</summary>
    public static async Task<(HttpStatusCode Status, double RetryAfter, JsonObject Body)> DeliverOnceAsync(HttpClient client, string verb, string ns, string name)
    {
        using var request = Ref(verb, "apps/v1", "Deployment", ns, name);
        using var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, response.Headers.RetryAfter?.Delta?.TotalSeconds ?? 0, JsonNode.Parse(text)!.AsObject());
    }

    /// <summary>Delivers as a Broker does: a 503 is redelivered after its Retry-After (a minute at most in all); the 200's body.</summary>
    public static async Task<JsonObject> DeliverAsync(HttpClient client, string verb, string ns, string name)
    {
        for (var attempt = 1; ; attempt++)
        {
            var (status, retryAfter, body) = await DeliverOnceAsync(client, verb, ns, name);
            if (status == HttpStatusCode.OK)
            {
                return body;
            }

            Assert.True(status == HttpStatusCode.ServiceUnavailable && attempt < 15, $"delivery {attempt} of {verb} {ns}/{name}: {(int)status} {body}");
            // The wait the protocol asks for, not a guess at timing.
            await Task.Delay(TimeSpan.FromSeconds(Math.Clamp(retryAfter, 1, 5)));
        }
    }

    /// <summary>The handled outcome of a single event: a 200-family JSON summary, never a reply event (no ce-* headers).</summary>
    public static async Task<JsonObject> OutcomeAsync(HttpResponseMessage response, HttpStatusCode expected = HttpStatusCode.OK)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(expected == response.StatusCode, $"expected {(int)expected}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        Assert.DoesNotContain(response.Headers, h => h.Key.StartsWith("ce-", StringComparison.OrdinalIgnoreCase));
        return JsonNode.Parse(text)!["outcome"]!.AsObject();
    }

    /// <summary>A rejected request: application/problem+json whose detail names what was wrong.</summary>
    public static async Task<JsonObject> ProblemAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(expected == response.StatusCode, $"expected {(int)expected}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonNode.Parse(text)!.AsObject();
        Assert.Equal((int)expected, (int?)problem["status"]);
        return problem;
    }

    /// <summary>Seconds of the Retry-After header, which a 503 must carry.</summary>
    public static double RetryAfterSeconds(HttpResponseMessage response)
    {
        Assert.True(response.Headers.RetryAfter is not null, $"a {(int)response.StatusCode} must carry Retry-After");
        var value = response.Headers.RetryAfter!;
        return value.Delta?.TotalSeconds ?? (value.Date!.Value - DateTimeOffset.UtcNow).TotalSeconds;
    }

    private static IEnumerable<KeyValuePair<string, string>> Attributes(string type, IReadOnlyDictionary<string, string>? extensions)
    {
        yield return new("specversion", "1.0");
        yield return new("id", Guid.NewGuid().ToString());
        yield return new("source", Source);
        yield return new("type", type);
        foreach (var extension in extensions ?? new Dictionary<string, string>())
        {
            yield return extension;
        }
    }
}
