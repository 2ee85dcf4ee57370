using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Cachier.Tests.Support;

namespace Cachier.Tests.Integration;

/// <summary>
/// SPEC section 6, "Who may call", against the real API server: tokens issued by its TokenRequest API
/// (<c>kubectl create token</c>), checked with the keys Cachier reads from its OIDC discovery paths as the cachier
/// ServiceAccount of knative/service.yaml (so the ClusterRoleBinding to system:service-account-issuer-discovery is
/// proven too). An expired token cannot be asked for (TokenRequest's minimum is 10 minutes), so it is signed here with
/// the local cluster's own service-account key (pki/sa.key beside its kubeconfig), exactly like a real one but for its
/// times; the same signing with a valid expiry is accepted, which shows that the expiry alone is refused.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class SenderAuthenticationIntegrationTests(ClusterFixture cluster)
{
    private const string Audience = "cachier-integration-audience";

    private async Task<(string Ns, HttpClient Client, IDisposable App)> StartAsync()
    {
        var ns = await cluster.NamespaceAsync();
        await cluster.Admin.RunAsync($"create serviceaccount sender -n {ns}");
        await cluster.Admin.RunAsync($"create serviceaccount stranger -n {ns}");
        var app = cluster.App(
            ("Authentication:Mode", "KubernetesToken"),
            ("Authentication:Audience", Audience),
            ("Authentication:AllowedSubjects", $"system:serviceaccount:{ns}:sender"));
        return (ns, app.CreateClient(), app);
    }

    private async Task<string> TokenAsync(string ns, string serviceAccount, string audience = Audience) =>
        (await cluster.Admin.RunAsync($"create token {serviceAccount} -n {ns} --audience {audience} --duration 10m")).Trim();

    private static async Task<HttpStatusCode> SendAsync(HttpClient client, string ns, string? token)
    {
        client.DefaultRequestHeaders.Authorization = token is null ? null : new AuthenticationHeaderValue("Bearer", token);
        var (status, _) = await CloudEvents.SendRefAsync(client, "update", "apps/v1", "Deployment", ns, "absent");
        return status;
    }

    [Fact]
    public async Task Token_issued_by_the_api_server_for_an_allowed_sender_is_accepted()
    {
        var (ns, client, app) = await StartAsync();
        using var _ = app;

        Assert.Equal(HttpStatusCode.OK, await SendAsync(client, ns, await TokenAsync(ns, "sender")));
    }

    [Fact]
    public async Task Token_issued_for_another_audience_is_refused_with_401()
    {
        var (ns, client, app) = await StartAsync();
        using var _ = app;

        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(client, ns, await TokenAsync(ns, "sender", "https://kubernetes.default.svc.cluster.local")));
    }

    [Fact]
    public async Task Token_of_a_service_account_not_on_the_list_is_refused_with_403()
    {
        var (ns, client, app) = await StartAsync();
        using var _ = app;

        Assert.Equal(HttpStatusCode.Forbidden, await SendAsync(client, ns, await TokenAsync(ns, "stranger")));
    }

    [Fact]
    public async Task Token_with_a_corrupted_signature_is_refused_with_401()
    {
        var (ns, client, app) = await StartAsync();
        using var _ = app;

        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(client, ns, TestIssuer.CorruptSignature(await TokenAsync(ns, "sender"))));
    }

    [Fact]
    public async Task Missing_token_is_refused_with_401()
    {
        var (ns, client, app) = await StartAsync();
        using var _ = app;

        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(client, ns, null));
    }

    [Fact]
    public async Task Expired_token_signed_with_the_cluster_key_is_refused_while_the_same_token_unexpired_is_accepted()
    {
        var (ns, client, app) = await StartAsync();
        using var _ = app;
        var real = await TokenAsync(ns, "sender");
        using var key = ClusterSigningKey();

        var now = DateTimeOffset.UtcNow;
        var expired = Resign(real, key, issued: now.AddMinutes(-30), expires: now.AddMinutes(-5));
        var current = Resign(real, key, issued: now.AddMinutes(-1), expires: now.AddMinutes(9));

        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(client, ns, expired));
        Assert.Equal(HttpStatusCode.OK, await SendAsync(client, ns, current));
    }

    /// <summary>The API server's token: same header (key id) and claims, new times, signed again with the cluster's key.</summary>
    private static string Resign(string token, RSA key, DateTimeOffset issued, DateTimeOffset expires)
    {
        var claims = TestIssuer.Claims(token);
        claims["iat"] = issued.ToUnixTimeSeconds();
        claims["nbf"] = issued.ToUnixTimeSeconds();
        claims["exp"] = expires.ToUnixTimeSeconds();
        return TestIssuer.Sign(TestIssuer.Header(token), claims, key);
    }

    /// <summary>The local cluster's service-account signing key: pki/sa.key in its state folder, beside its kubeconfig.</summary>
    private RSA ClusterSigningKey()
    {
        var path = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(cluster.Admin.Kubeconfig))!, "pki", "sa.key");
        Assert.True(File.Exists(path), $"the local cluster's service-account key is not at {path}");
        var key = RSA.Create();
        key.ImportFromPem(File.ReadAllText(path));
        return key;
    }
}
