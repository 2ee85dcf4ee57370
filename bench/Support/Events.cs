using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace Cachier.Bench.Support;

/// <summary>
/// The bench's one CloudEvent sender: events exactly as the ApiServerSource adapter sends them (binary mode, or
/// structured mode for the soak's Resource-mode updates), with a fresh id on every send.
/// </summary>
public static class Events
{
    public const string RefPrefix = "dev.knative.apiserver.ref.";
    public const string ResourcePrefix = "dev.knative.apiserver.resource.";

    /// <summary>Reference mode: the data names the object, Cachier GETs it.</summary>
    public static HttpRequestMessage Ref(Uri function, string verb, string apiVersion, string kind, string ns, string name)
    {
        var body = $$"""{"kind":"{{kind}}","namespace":"{{ns}}","name":"{{name}}","apiVersion":"{{apiVersion}}"}""";
        return Binary(function, RefPrefix + verb, apiVersion, kind, ns, name, body);
    }

    public static HttpRequestMessage RefDeployment(Uri function, string verb, string ns, string name) =>
        Ref(function, verb, "apps/v1", "Deployment", ns, name);

    /// <summary>Resource mode: the data is the whole object.</summary>
    public static HttpRequestMessage Resource(Uri function, string verb, string apiVersion, string kind, string ns, string name, string objectJson) =>
        Binary(function, ResourcePrefix + verb, apiVersion, kind, ns, name, objectJson);

    /// <summary>Resource mode in structured mode: every attribute and the object in one application/cloudevents+json body.</summary>
    public static HttpRequestMessage StructuredResource(Uri function, string verb, JsonObject workload)
    {
        var metadata = workload["metadata"]!;
        var envelope = new JsonObject();
        foreach (var (key, value) in Attributes(ResourcePrefix + verb, (string)workload["apiVersion"]!, (string)workload["kind"]!,
            (string)metadata["namespace"]!, (string)metadata["name"]!))
        {
            envelope[key] = value;
        }

        envelope["datacontenttype"] = "application/json";
        envelope["data"] = workload.DeepClone();
        var content = new StringContent(envelope.ToJsonString(), Encoding.UTF8);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/cloudevents+json");
        return new HttpRequestMessage(HttpMethod.Post, function) { Content = content };
    }

    private static HttpRequestMessage Binary(Uri function, string type, string apiVersion, string kind, string ns, string name, string body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, function) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        foreach (var (key, value) in Attributes(type, apiVersion, kind, ns, name))
        {
            request.Headers.Add("ce-" + key, value);
        }

        return request;
    }

    /// <summary>The attributes the adapter sets: the required four, subject and time, and its extensions naming the object.</summary>
    private static IEnumerable<(string Key, string Value)> Attributes(string type, string apiVersion, string kind, string ns, string name)
    {
        var root = apiVersion.Contains('/') ? $"/apis/{apiVersion}" : $"/api/{apiVersion}";
        yield return ("specversion", "1.0");
        yield return ("id", Guid.NewGuid().ToString());
        yield return ("source", "https://kubernetes.default.svc:443");
        yield return ("type", type);
        yield return ("subject", $"{root}/namespaces/{ns}/{kind.ToLowerInvariant()}s/{name}");
        yield return ("time", DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffffffZ", CultureInfo.InvariantCulture));
        yield return ("apiversion", apiVersion);
        yield return ("kind", kind);
        yield return ("name", name);
        yield return ("namespace", ns);
    }
}
