using System.Net.Http.Headers;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Cachier.Bench;

/// <summary>HTTP clients of the bench: loopback only.</summary>
public static class Http
{
    /// <summary>
    /// HTTPS to the API server with a bearer token and the cluster CA, HTTP/1.1 with a keep-alive pool:
    /// the same transport Cachier's KubeApi uses (SocketsHttpHandler, default request version 1.1).
    /// </summary>
    public static HttpClient ApiClient(BenchEnv env, string token, string userAgent, TimeSpan? timeout = null)
    {
        var ca = X509Certificate2.CreateFromPem(File.ReadAllText(env.CaFile));
        var handler = new SocketsHttpHandler
        {
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            SslOptions = new SslClientAuthenticationOptions
            {
                CertificateChainPolicy = new X509ChainPolicy
                {
                    TrustMode = X509ChainTrustMode.CustomRootTrust,
                    CustomTrustStore = { ca },
                    RevocationMode = X509RevocationMode.NoCheck,
                },
            },
        };
        var client = new HttpClient(handler) { BaseAddress = new Uri(env.Server), Timeout = timeout ?? TimeSpan.FromSeconds(30) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        client.DefaultRequestHeaders.UserAgent.ParseAdd(userAgent);
        return client;
    }

    /// <summary>Plain HTTP to a local function; new connections are made as needed and kept.</summary>
    public static HttpClient LocalClient() => new(new SocketsHttpHandler
    {
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
        ConnectTimeout = TimeSpan.FromSeconds(2),
        UseProxy = false,
    })
    {
        Timeout = TimeSpan.FromSeconds(30),
    };

    public static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    /// <summary>A local function's <c>/metrics</c> (Prometheus text): each sample as its series with labels, and its value.</summary>
    public static async Task<List<(string Series, double Value)>> MetricsAsync(HttpClient local, Uri function) =>
        (await local.GetStringAsync(new Uri(function, "/metrics"))).Split('\n')
            .Where(l => l.Length > 0 && l[0] != '#')
            .Select(l => (l[..l.LastIndexOf(' ')], double.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture)))
            .ToList();
}
