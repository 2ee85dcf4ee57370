using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace Cachier.Tests.Support;

/// <summary>
/// A service-account token issuer for tests: an RSA key, the JWKS and OIDC discovery document the API server would
/// publish for it, and tokens signed with it (RS256), shaped like Kubernetes' (iss, sub, aud, exp, iat, nbf, kid).
/// </summary>
public sealed class TestIssuer : IDisposable
{
    public const string DefaultIssuer = "https://kubernetes.default.svc.cluster.local";

    public TestIssuer(string kid = "test-key-1", string issuer = DefaultIssuer)
    {
        Kid = kid;
        Issuer = issuer;
    }

    public RSA Key { get; } = RSA.Create(2048);

    public string Kid { get; }

    public string Issuer { get; }

    /// <summary>What <c>/openid/v1/jwks</c> answers: this issuer's public key (and any others given).</summary>
    public JsonObject Jwks(params TestIssuer[] more) =>
        new() { ["keys"] = new JsonArray(new[] { this }.Concat(more).Select(i => (JsonNode)i.Jwk()).ToArray()) };

    /// <summary>What <c>/.well-known/openid-configuration</c> answers.</summary>
    public JsonObject Discovery() => new()
    {
        ["issuer"] = Issuer,
        ["jwks_uri"] = "https://10.96.0.1:443/openid/v1/jwks",
        ["response_types_supported"] = new JsonArray("id_token"),
        ["subject_types_supported"] = new JsonArray("public"),
        ["id_token_signing_alg_values_supported"] = new JsonArray("RS256"),
    };

    /// <summary>A token as the API server's TokenRequest issues it; <paramref name="lifetime"/> negative = already expired.</summary>
    public string Token(string subject, string audience, TimeSpan? lifetime = null, string? issuer = null)
    {
        var now = DateTimeOffset.UtcNow;
        var expires = now + (lifetime ?? TimeSpan.FromMinutes(10));
        var issued = lifetime is { } l && l < TimeSpan.Zero ? expires - TimeSpan.FromMinutes(10) : now;
        var payload = new JsonObject
        {
            ["aud"] = new JsonArray(audience),
            ["exp"] = expires.ToUnixTimeSeconds(),
            ["iat"] = issued.ToUnixTimeSeconds(),
            ["nbf"] = issued.ToUnixTimeSeconds(),
            ["iss"] = issuer ?? Issuer,
            ["sub"] = subject,
            ["kubernetes.io"] = new JsonObject { ["namespace"] = subject.Split(':')[2], ["serviceaccount"] = new JsonObject { ["name"] = subject.Split(':')[3] } },
        };
        return Sign(new JsonObject { ["alg"] = "RS256", ["kid"] = Kid }, payload, Key);
    }

    /// <summary>header.payload signed RS256 with <paramref name="key"/>.</summary>
    public static string Sign(JsonObject header, JsonObject payload, RSA key)
    {
        var signed = $"{Base64Url(Encoding.UTF8.GetBytes(header.ToJsonString()))}.{Base64Url(Encoding.UTF8.GetBytes(payload.ToJsonString()))}";
        var signature = key.SignData(Encoding.ASCII.GetBytes(signed), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        return $"{signed}.{Base64Url(signature)}";
    }

    /// <summary>The same token with one bit of its signature flipped.</summary>
    public static string CorruptSignature(string token)
    {
        var parts = token.Split('.');
        var signature = Convert.FromBase64String(FromBase64Url(parts[2]));
        signature[signature.Length / 2] ^= 0x01;
        return $"{parts[0]}.{parts[1]}.{Base64Url(signature)}";
    }

    /// <summary>A token with no signature at all (<c>alg: none</c>).</summary>
    public static string Unsigned(string token)
    {
        var parts = token.Split('.');
        return $"{Base64Url(Encoding.UTF8.GetBytes("""{"alg":"none","typ":"JWT"}"""))}.{parts[1]}.";
    }

    /// <summary>The claims of a token, decoded (no check).</summary>
    public static JsonObject Claims(string token) =>
        JsonNode.Parse(Convert.FromBase64String(FromBase64Url(token.Split('.')[1])))!.AsObject();

    public static JsonObject Header(string token) =>
        JsonNode.Parse(Convert.FromBase64String(FromBase64Url(token.Split('.')[0])))!.AsObject();

    public static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public void Dispose() => Key.Dispose();

    private static string FromBase64Url(string text)
    {
        var padded = text.Replace('-', '+').Replace('_', '/');
        return padded + new string('=', (4 - (padded.Length % 4)) % 4);
    }

    private JsonObject Jwk()
    {
        var p = Key.ExportParameters(false);
        return new JsonObject
        {
            ["use"] = "sig",
            ["kty"] = "RSA",
            ["kid"] = Kid,
            ["alg"] = "RS256",
            ["n"] = Base64Url(p.Modulus!),
            ["e"] = Base64Url(p.Exponent!),
        };
    }
}
