using System.Net.Http.Headers;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using k8s;
using k8s.Authentication;

namespace Cachier.Lab;

/// <summary>
/// Plain REST to the API server of a kubeconfig: its address, one HttpClient that trusts the kubeconfig's CA and
/// presents its client certificate, and its credentials on every request. KubernetesClient only reads the kubeconfig.
/// </summary>
internal sealed class ApiServer : IDisposable
{
    private readonly ITokenProvider? _tokens;
    private readonly AuthenticationHeaderValue? _header;
    private readonly HttpClient _http;

    public ApiServer(string kubeconfig)
    {
        var config = KubernetesClientConfiguration.BuildConfigFromConfigFile(kubeconfig);
        Host = config.Host;
        BaseUrl = config.Host.TrimEnd('/');
        var handler = new SocketsHttpHandler();
        if (config.SkipTlsVerify)
        {
            handler.SslOptions.RemoteCertificateValidationCallback = (_, _, _, _) => true;
        }
        else if (config.SslCaCerts is { Count: > 0 } ca)
        {
            var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
            policy.CustomTrustStore.AddRange(ca);
            handler.SslOptions.CertificateChainPolicy = policy;
        }

        if (!string.IsNullOrEmpty(config.ClientCertificateData) || !string.IsNullOrEmpty(config.ClientCertificateFilePath))
        {
            handler.SslOptions.ClientCertificates = [X509Certificate2.CreateFromPem(
                Pem(config.ClientCertificateData, config.ClientCertificateFilePath),
                Pem(config.ClientCertificateKeyData, config.ClientKeyFilePath))];
        }

        // Watches stay open for minutes; every other call is bounded by its own token.
        _http = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        if (config.TokenProvider is { } tokens)
        {
            _tokens = tokens;
        }
        else if (!string.IsNullOrEmpty(config.AccessToken))
        {
            _header = new AuthenticationHeaderValue("Bearer", config.AccessToken);
        }
        else if (!string.IsNullOrEmpty(config.Username))
        {
            _header = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{config.Username}:{config.Password}")));
        }
    }

    /// <summary>The server address exactly as the kubeconfig has it (the adapter's <c>rest.Config.Host</c>).</summary>
    public string Host { get; }

    public string BaseUrl { get; }

    /// <summary>Sends a request for <paramref name="path"/>; the caller disposes the response (a watch reads it as a stream).</summary>
    public async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, JsonNode? body, bool stream, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, BaseUrl + path);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        request.Headers.Authorization = _tokens is null ? _header : await _tokens.GetAuthenticationHeaderAsync(ct);
        if (body is not null)
        {
            request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        }

        return await _http.SendAsync(request, stream ? HttpCompletionOption.ResponseHeadersRead : HttpCompletionOption.ResponseContentRead, ct);
    }

    /// <summary>A request whose answer must be a 2xx JSON object; anything else throws <see cref="ApiException"/>.</summary>
    public async Task<JsonObject> JsonAsync(HttpMethod method, string path, JsonNode? body, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        using var response = await SendAsync(method, path, body, stream: false, timeout.Token);
        var text = await response.Content.ReadAsStringAsync(timeout.Token);
        if (!response.IsSuccessStatusCode)
        {
            throw new ApiException((int)response.StatusCode, $"{method} {path}: {(int)response.StatusCode} {ApiException.Brief(text)}");
        }

        return JsonNode.Parse(text)!.AsObject();
    }

    public void Dispose() => _http.Dispose();

    private static string Pem(string? data, string? file) =>
        !string.IsNullOrEmpty(data) ? Encoding.UTF8.GetString(Convert.FromBase64String(data)) : File.ReadAllText(file!);
}

internal sealed class ApiException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;

    /// <summary>An answer's body cut to one line of at most 200 characters, for a log line.</summary>
    public static string Brief(string body)
    {
        var line = body.Trim().ReplaceLineEndings(" ");
        return line.Length <= 200 ? line : line[..200] + "...";
    }
}
