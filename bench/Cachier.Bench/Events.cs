using System.Globalization;

namespace Cachier.Bench;

/// <summary>CloudEvents exactly as the ApiServerSource adapter sends them (binary mode), with a fresh id on every send.</summary>
public static class Events
{
    public const string RefPrefix = "dev.knative.apiserver.ref.";
    public const string ResourcePrefix = "dev.knative.apiserver.resource.";

    /// <summary>Reference mode: the data names the object, Cachier GETs it.</summary>
    public static HttpRequestMessage Ref(Uri function, string verb, string apiVersion, string kind, string ns, string name)
    {
        var body = $$"""{"kind":"{{kind}}","namespace":"{{ns}}","name":"{{name}}","apiVersion":"{{apiVersion}}"}""";
        return Build(function, RefPrefix + verb, apiVersion, kind, ns, name, body);
    }

    public static HttpRequestMessage RefDeployment(Uri function, string verb, string ns, string name) =>
        Ref(function, verb, "apps/v1", "Deployment", ns, name);

    /// <summary>Resource mode: the data is the whole object.</summary>
    public static HttpRequestMessage Resource(Uri function, string verb, string apiVersion, string kind, string ns, string name, string objectJson) =>
        Build(function, ResourcePrefix + verb, apiVersion, kind, ns, name, objectJson);

    private static HttpRequestMessage Build(Uri function, string type, string apiVersion, string kind, string ns, string name, string body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, function) { Content = Http.Json(body) };
        var plural = kind.ToLowerInvariant() + "s";
        var root = apiVersion.Contains('/') ? $"/apis/{apiVersion}" : $"/api/{apiVersion}";
        var headers = request.Headers;
        headers.Add("ce-specversion", "1.0");
        headers.Add("ce-id", Guid.NewGuid().ToString());
        headers.Add("ce-source", "https://kubernetes.default.svc:443");
        headers.Add("ce-type", type);
        headers.Add("ce-subject", $"{root}/namespaces/{ns}/{plural}/{name}");
        headers.Add("ce-time", DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffffffZ", CultureInfo.InvariantCulture));
        headers.Add("ce-apiversion", apiVersion);
        headers.Add("ce-kind", kind);
        headers.Add("ce-name", name);
        headers.Add("ce-namespace", ns);
        return request;
    }
}
