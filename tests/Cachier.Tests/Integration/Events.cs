using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace Cachier.Tests.Integration;

/// <summary>Sends CloudEvents the way the ApiServerSource adapter does (binary mode) or structured mode.</summary>
public static class Events
{
    public static Task<(HttpStatusCode Status, JsonObject Body)> RefAsync(
        HttpClient client, string action, string apiVersion, string kind, string ns, string name, bool structured = false) =>
        SendAsync(client, $"dev.knative.apiserver.ref.{action}", apiVersion, kind, ns, name,
            new JsonObject { ["kind"] = kind, ["namespace"] = ns, ["name"] = name, ["apiVersion"] = apiVersion }, structured);

    public static Task<(HttpStatusCode Status, JsonObject Body)> ResourceAsync(
        HttpClient client, string action, JsonObject obj, bool structured = true)
    {
        var meta = obj["metadata"]!;
        return SendAsync(client, $"dev.knative.apiserver.resource.{action}", (string)obj["apiVersion"]!, (string)obj["kind"]!,
            (string)meta["namespace"]!, (string)meta["name"]!, obj, structured);
    }

    private static async Task<(HttpStatusCode, JsonObject)> SendAsync(
        HttpClient client, string type, string apiVersion, string kind, string ns, string name, JsonObject data, bool structured)
    {
        var attributes = new Dictionary<string, string>
        {
            ["specversion"] = "1.0",
            ["id"] = Guid.NewGuid().ToString(),
            ["source"] = "https://10.96.0.1:443",
            ["type"] = type,
            ["subject"] = $"/apis/{apiVersion}/namespaces/{ns}/{kind.ToLowerInvariant()}s/{name}",
            ["apiversion"] = apiVersion,
            ["kind"] = kind,
            ["name"] = name,
            ["namespace"] = ns,
        };
        using var request = new HttpRequestMessage(HttpMethod.Post, "/");
        if (structured)
        {
            var envelope = new JsonObject();
            foreach (var (key, value) in attributes)
            {
                envelope[key] = value;
            }

            envelope["datacontenttype"] = "application/json";
            envelope["data"] = data.DeepClone();
            request.Content = new StringContent(envelope.ToJsonString(), Encoding.UTF8);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/cloudevents+json");
        }
        else
        {
            request.Content = new StringContent(data.ToJsonString(), Encoding.UTF8);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            foreach (var (key, value) in attributes)
            {
                request.Headers.Add($"Ce-{char.ToUpperInvariant(key[0])}{key[1..]}", value);
            }
        }

        using var response = await client.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, JsonNode.Parse(body)!.AsObject());
    }
}
