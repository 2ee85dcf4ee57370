using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Cachier.Configuration;
using Cachier.Diagnostics;
using k8s;
using k8s.Authentication;

namespace Cachier.Kubernetes;

/// <summary>
/// The API server's address, one HttpClient that trusts only the cluster's CA (and presents the client certificate,
/// if the configuration has one), and the credentials to put on each request. It is built from KubernetesClient's
/// configuration (kubeconfig or in-cluster) but does not construct <c>k8s.Kubernetes</c>: Cachier speaks REST itself
/// (<see cref="KubeApi"/>), and that client would root its generated API surface and JSON metadata for every
/// Kubernetes model, which Native AOT then compiles in, rebuilds at every start and keeps in memory. How it is made is
/// here; what each request takes from it (its credentials) is in <c>KubeApi.Requests.cs</c>.
/// </summary>
public sealed partial class KubeConnection : IDisposable
{
    private ITokenProvider? _tokens;
    private readonly AuthenticationHeaderValue? _header;

    public KubeConnection(KubernetesClientConfiguration config, TimeSpan timeout)
    {
        if (!Uri.TryCreate(config.Host, UriKind.Absolute, out var host) || host.Scheme is not ("https" or "http"))
        {
            throw new InvalidOperationException($"The Kubernetes API server address '{config.Host}' is not an http(s) URL.");
        }

        BaseUrl = host.ToString().TrimEnd('/');
        var handler = new SocketsHttpHandler();
        if (host.Scheme == "https")
        {
            if (config.SkipTlsVerify)
            {
                SkipsTlsVerification = true;
                handler.SslOptions.RemoteCertificateValidationCallback = (_, _, _, _) => true;
            }
            else if (config.SslCaCerts is { Count: > 0 } ca)
            {
                // The cluster's CA (from the kubeconfig or the ServiceAccount) is the only trusted root, as with kubectl.
                var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
                policy.CustomTrustStore.AddRange(ca);
                handler.SslOptions.CertificateChainPolicy = policy;
            }

            // null (no tls-server-name): the request's host, as by default.
            handler.SslOptions.TargetHost = string.IsNullOrEmpty(config.TlsServerName) ? null : config.TlsServerName;

            if (!string.IsNullOrEmpty(config.ClientCertificateData) || !string.IsNullOrEmpty(config.ClientCertificateFilePath))
            {
                handler.SslOptions.ClientCertificates = [ClientCertificate(config)];
            }
        }

        HttpClient = new HttpClient(handler) { Timeout = timeout };

        // The same order as KubernetesClient: a token provider (the in-cluster token file, re-read every minute
        // so kubelet's rotations are picked up; exec and auth-provider plugins), else a fixed token, else basic auth.
        _tokens = config.TokenProvider;
        _header = _tokens is not null ? null
            : !string.IsNullOrEmpty(config.AccessToken) ? new AuthenticationHeaderValue("Bearer", config.AccessToken)
            : !string.IsNullOrEmpty(config.Username) && !string.IsNullOrEmpty(config.Password)
                ? new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{config.Username}:{config.Password}")))
            : null;
    }

    /// <summary>Where the connection comes from, first match wins.</summary>
    public enum Source { Url, Kubeconfig, InCluster, DefaultKubeconfig }

    /// <summary>
    /// A plain URL; else a kubeconfig given explicitly (<c>Cachier:Kubeconfig</c>, <c>cachier plan --kubeconfig</c>), even
    /// inside a pod, as with kubectl; else in-cluster when KUBERNETES_SERVICE_HOST is set; else $KUBECONFIG or ~/.kube/config.
    /// </summary>
    public static Source SourceOf(CachierOptions options, bool inCluster) =>
        !string.IsNullOrEmpty(options.ApiServerUrl) ? Source.Url
        : !string.IsNullOrEmpty(options.Kubeconfig) ? Source.Kubeconfig
        : inCluster ? Source.InCluster
        : Source.DefaultKubeconfig;

    public static KubeConnection FromOptions(CachierOptions options)
    {
        var config = SourceOf(options, KubernetesClientConfiguration.IsInCluster()) switch
        {
            Source.Url => new KubernetesClientConfiguration { Host = options.ApiServerUrl },
            Source.Kubeconfig => FromFile(options.Kubeconfig!),
            Source.InCluster => KubernetesClientConfiguration.InClusterConfig(),
            _ => FromFile(Environment.GetEnvironmentVariable("KUBECONFIG")?.Split(Path.PathSeparator).FirstOrDefault(p => p.Length > 0)
                ?? KubernetesClientConfiguration.KubeConfigDefaultLocation),
        };

        // Each call has its own timeout (Cachier:ApiTimeout); the HttpClient's is only the backstop.
        return new KubeConnection(config, options.ApiTimeout + TimeSpan.FromSeconds(5));
    }

    private static KubernetesClientConfiguration FromFile(string path) =>
        File.Exists(path)
            ? KubernetesClientConfiguration.BuildConfigFromConfigFile(path)
            : throw new InvalidOperationException(
                $"No Kubernetes connection: kubeconfig '{path}' does not exist. Set KUBECONFIG or Cachier__Kubeconfig, or run in a cluster (KUBERNETES_SERVICE_HOST).");

    /// <summary>The API server's address without a trailing slash: API paths are appended to it.</summary>
    public string BaseUrl { get; }

    public HttpClient HttpClient { get; }

    /// <summary>The kubeconfig says <c>insecure-skip-tls-verify</c>: the start logs a warning.</summary>
    public bool SkipsTlsVerification { get; }

    public void Dispose() => HttpClient.Dispose();

    /// <summary>The kubeconfig's client-certificate(-data) and client-key(-data), PEM, as one certificate with its key.</summary>
    private static X509Certificate2 ClientCertificate(KubernetesClientConfiguration config)
    {
        var cert = Pem(config.ClientCertificateData, config.ClientCertificateFilePath, "client-certificate");
        var key = Pem(config.ClientCertificateKeyData, config.ClientKeyFilePath, "client-key");
        try
        {
            return X509Certificate2.CreateFromPem(cert, key);
        }
        catch (CryptographicException e)
        {
            throw new InvalidOperationException($"The kubeconfig's client-certificate and client-key do not make a usable key pair: {e.Message}", e);
        }
    }

    private static string Pem(string? data, string? file, string field)
    {
        if (!string.IsNullOrEmpty(data))
        {
            try
            {
                return Encoding.UTF8.GetString(Convert.FromBase64String(data));
            }
            catch (FormatException e)
            {
                throw new InvalidOperationException($"The kubeconfig's {field}-data is not base64.", e);
            }
        }

        return !string.IsNullOrEmpty(file)
            ? File.ReadAllText(file)
            : throw new InvalidOperationException($"The kubeconfig has a client certificate but no {field} or {field}-data.");
    }
}

/// <summary>
/// The one <see cref="KubeConnection"/>, made on a thread-pool thread while the host is built and started: reading a
/// kubeconfig and loading OpenSSL take milliseconds that a cold start would otherwise spend before its first event.
/// The host waits for it only once Kestrel listens (<see cref="StartedAsync"/>), so the port opens while it is still
/// being made; an event that comes meanwhile waits for it in <see cref="KubeApi"/>. A configuration that cannot make a
/// connection still stops the start, with its message.
/// </summary>
public sealed class KubeConnectionSource : IHostedLifecycleService, IDisposable
{
    private readonly ILogger _logger;
    private readonly string _kinds;

    public KubeConnectionSource(Task<KubeConnection> connecting, CachierSettings settings, ILogger<KubeConnectionSource> logger)
    {
        Connection = connecting;
        _logger = logger;
        _kinds = string.Join(", ", settings.Kinds);
    }

    /// <summary>An already made connection (tests).</summary>
    internal KubeConnectionSource(KubeConnection connection, ILogger<KubeConnectionSource> logger)
    {
        Connection = Task.FromResult(connection);
        _logger = logger;
        _kinds = "";
    }

    public Task<KubeConnection> Connection { get; }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>After every hosted service's StartAsync (Kestrel's listening among them): a failed connection fails the start here.</summary>
    public async Task StartedAsync(CancellationToken cancellationToken)
    {
        var connection = await Connection.WaitAsync(cancellationToken);
        Log.Started(_logger, _kinds, connection.BaseUrl);
        if (connection.SkipsTlsVerification)
        {
            Log.TlsNotVerified(_logger);
        }
    }

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose() =>
        Connection.ContinueWith(t => t.Result.Dispose(), CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
}
