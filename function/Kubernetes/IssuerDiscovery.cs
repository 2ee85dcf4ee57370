using System.Text.Json;
using Cachier.Configuration;
using Cachier.Reconcile;
using Cachier.Security;
using Microsoft.IdentityModel.Tokens;

namespace Cachier.Kubernetes;

/// <summary>
/// The API server's service-account issuer, read over the one <see cref="KubeConnection"/> (the cluster's CA, Cachier's
/// own credentials): <c>/.well-known/openid-configuration</c> names the issuer, <c>/openid/v1/jwks</c> holds the keys.
/// Both are the API server's own paths, whatever host <c>jwks_uri</c> names (often one only resolvable in-cluster).
/// Reading them needs ClusterRole <c>system:service-account-issuer-discovery</c> (knative/service.yaml binds it);
/// Kubernetes serves them from 1.20 on (feature ServiceAccountIssuerDiscovery, beta and on by default in 1.20).
/// </summary>
public sealed class IssuerDiscovery(KubeConnectionSource source, CachierSettings settings) : IIssuerKeySource
{
    public const string DiscoveryPath = "/.well-known/openid-configuration";
    public const string KeysPath = "/openid/v1/jwks";

    public async Task<IssuerKeys> FetchAsync(CancellationToken ct)
    {
        var issuer = Issuer(await GetAsync(DiscoveryPath, ct));
        if (string.IsNullOrEmpty(issuer))
        {
            throw new ApiException("GET", DiscoveryPath, 200, "the discovery document names no issuer");
        }

        var json = await GetAsync(KeysPath, ct);
        try
        {
            var keys = new JsonWebKeySet(json).GetSigningKeys();
            return keys.Count > 0 ? new IssuerKeys(issuer, keys.ToList()) : throw new ArgumentException("no signing key");
        }
        catch (ArgumentException e)
        {
            throw new ApiException("GET", KeysPath, 200, $"unusable key set: {e.Message}");
        }
    }

    private static string? Issuer(string discovery)
    {
        try
        {
            using var doc = JsonDocument.Parse(discovery);
            return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("issuer", out var i)
                && i.ValueKind == JsonValueKind.String ? i.GetString() : null;
        }
        catch (JsonException e)
        {
            throw new ApiException("GET", DiscoveryPath, 200, $"the discovery document is not JSON: {e.Message}");
        }
    }

    private async Task<string> GetAsync(string path, CancellationToken ct)
    {
        var client = await source.Connection;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(settings.Options.ApiTimeout);
        using var request = new HttpRequestMessage(HttpMethod.Get, client.BaseUrl + path);
        try
        {
            await client.AuthenticateAsync(request, timeout.Token);
            using var response = await client.HttpClient.SendAsync(request, timeout.Token);
            var body = await response.Content.ReadAsStringAsync(timeout.Token);
            return response.IsSuccessStatusCode
                ? body
                : throw new ApiException("GET", path, (int)response.StatusCode, $"answered {(int)response.StatusCode}");
        }
        catch (Exception e) when (e is HttpRequestException || (e is OperationCanceledException && !ct.IsCancellationRequested))
        {
            throw new ApiException("GET", path, null, $"no usable answer: {e.Message}", inner: e);
        }
    }
}
