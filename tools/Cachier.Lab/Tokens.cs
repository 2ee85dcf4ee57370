using System.Globalization;
using System.Text.Json.Nodes;

namespace Cachier.Lab;

/// <summary>The sender identity: the bearer token a Knative source puts on each delivery (<c>authentication-oidc</c>).</summary>
public interface ITokenSource
{
    ValueTask<string> GetAsync(CancellationToken ct);
}

/// <summary>A token kept in a file (a projected ServiceAccount token, say), read again on every delivery so rotations count.</summary>
public sealed class FileToken(string path) : ITokenSource
{
    public async ValueTask<string> GetAsync(CancellationToken ct) => (await File.ReadAllTextAsync(path, ct)).Trim();
}

/// <summary>
/// A token of ServiceAccount <c>ns/name</c> for one audience, from the TokenRequest API (as Knative Eventing's OIDC
/// token provider asks for its sources), cached and renewed once 80% of its lifetime has passed.
/// </summary>
internal sealed class ServiceAccountToken(ApiServer api, string ns, string name, string audience, TimeSpan lifetime) : ITokenSource
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private string? _token;
    private DateTimeOffset _renewAt;

    public async ValueTask<string> GetAsync(CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        try
        {
            if (_token is null || DateTimeOffset.UtcNow >= _renewAt)
            {
                var issued = DateTimeOffset.UtcNow;
                var request = new JsonObject
                {
                    ["apiVersion"] = "authentication.k8s.io/v1",
                    ["kind"] = "TokenRequest",
                    ["spec"] = new JsonObject
                    {
                        ["audiences"] = new JsonArray(audience),
                        ["expirationSeconds"] = (long)lifetime.TotalSeconds,
                    },
                };
                var answer = await api.JsonAsync(HttpMethod.Post, $"/api/v1/namespaces/{ns}/serviceaccounts/{name}/token", request, ct);
                var expires = DateTimeOffset.Parse((string)answer["status"]!["expirationTimestamp"]!, CultureInfo.InvariantCulture);
                _token = (string)answer["status"]!["token"]!;
                _renewAt = issued + ((expires - issued) * 0.8);
            }

            return _token;
        }
        finally
        {
            _gate.Release();
        }
    }
}
