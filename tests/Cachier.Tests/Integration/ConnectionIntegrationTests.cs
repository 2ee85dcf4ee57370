using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Cachier.Tests.Integration;

/// <summary>
/// How Cachier connects to the real API server: a client certificate from the kubeconfig (inline or as files), and
/// trust in the kubeconfig's CA only.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ConnectionIntegrationTests(ClusterFixture cluster) : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("cachier-conn-it-");

    private Kubectl Kubectl => cluster.Admin;

    public void Dispose() => _dir.Delete(recursive: true);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Client_certificate_from_the_kubeconfig_authenticates_cachier(bool inline)
    {
        // A user known only by its certificate (signed by the cluster's client CA), bound to Cachier's ClusterRole.
        var user = $"cachier-cert-{Guid.NewGuid():N}"[..24];
        var (certPem, keyPem) = IssueClientCertificate(user, ClusterCaFiles());
        await Kubectl.RunAsync($"create clusterrolebinding {user} --clusterrole=cachier --user={user}");
        await Kubectl.WaitUntilAllowedAsync(user, "create", "images.caching.internal.knative.dev");
        try
        {
            string credentials;
            if (inline)
            {
                credentials = $"{{client-certificate-data: {Base64(certPem)}, client-key-data: {Base64(keyPem)}}}";
            }
            else
            {
                File.WriteAllText(Path.Combine(_dir.FullName, "client.crt"), certPem);
                File.WriteAllText(Path.Combine(_dir.FullName, "client.key"), keyPem);
                credentials = $"{{client-certificate: {Path.Combine(_dir.FullName, "client.crt")}, client-key: {Path.Combine(_dir.FullName, "client.key")}}}";
            }

            var ns = await cluster.NamespaceAsync();
            await Kubectl.ApplyAsync(Workloads.Deployment(ns, "web", ["nginx:1.25"]));
            using var app = cluster.App(("Kubeconfig", cluster.WriteKubeconfig(credentials)));

            var (status, body) = await CloudEvents.SendRefAsync(app.CreateClient(), "add", "apps/v1", "Deployment", ns, "web");

            Assert.Equal(HttpStatusCode.OK, status);
            Assert.Equal("reconciled", (string)body["outcome"]!["result"]!);
            Assert.Equal("nginx:1.25", (string)Assert.Single(await Kubectl.ImagesAsync(ns))["spec"]!["image"]!);
        }
        finally
        {
            await Kubectl.RunAsync($"delete clusterrolebinding {user}");
        }
    }

    [Fact]
    public async Task Api_server_certificate_not_signed_by_the_kubeconfig_CA_is_refused_and_the_event_is_redelivered()
    {
        var ns = await cluster.NamespaceAsync();
        await Kubectl.ApplyAsync(Workloads.Deployment(ns, "web", ["nginx:1.25"]));
        using var otherCa = SelfSignedCa("not-the-cluster-ca");
        // The ServiceAccount's valid token, but a CA that did not sign the API server's certificate: nothing may be sent.
        var token = (await Kubectl.RunAsync("create token cachier -n cachier-system --duration=10m")).Trim();
        using var app = cluster.App(("Kubeconfig", cluster.WriteKubeconfig($"{{token: {token}}}", Base64(otherCa.ExportCertificatePem()))));

        var (status, body) = await CloudEvents.SendRefAsync(app.CreateClient(), "add", "apps/v1", "Deployment", ns, "web");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Equal("transient", (string)body["outcome"]!["result"]!);
        Assert.Contains("unreachable", (string)body["outcome"]!["reason"]!);
        Assert.Empty(await Kubectl.ImagesAsync(ns));
    }

    /// <summary>scripts/local-cluster.sh keeps the cluster CA (the API server's --client-ca-file) in pki/ beside the kubeconfig.</summary>
    private (string Cert, string Key) ClusterCaFiles()
    {
        var pki = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(Kubectl.Kubeconfig))!, "pki");
        var files = (Path.Combine(pki, "ca.crt"), Path.Combine(pki, "ca.key"));
        Assert.True(File.Exists(files.Item2), $"the cluster CA key {files.Item2} is needed to issue a client certificate (run the tests as root)");
        return files;
    }

    private static (string CertPem, string KeyPem) IssueClientCertificate(string user, (string Cert, string Key) caFiles)
    {
        using var ca = X509Certificate2.CreateFromPemFile(caFiles.Cert, caFiles.Key);
        using var key = RSA.Create(2048);
        var request = new CertificateRequest($"CN={user}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.2")], false));
        // Not valid before its issuer: the local cluster's CA may be only seconds old.
        var notBefore = new DateTimeOffset(ca.NotBefore.ToUniversalTime()) > DateTimeOffset.UtcNow.AddMinutes(-5)
            ? new DateTimeOffset(ca.NotBefore.ToUniversalTime())
            : DateTimeOffset.UtcNow.AddMinutes(-5);
        using var cert = request.Create(ca, notBefore, DateTimeOffset.UtcNow.AddHours(1), RandomNumberGenerator.GetBytes(16));
        return (cert.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem());
    }

    private static X509Certificate2 SelfSignedCa(string name)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));
    }

    private static string Base64(string text) => Convert.ToBase64String(System.Text.Encoding.ASCII.GetBytes(text));
}
