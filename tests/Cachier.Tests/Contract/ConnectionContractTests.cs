using System.Net.Http.Headers;
using System.Text;
using Cachier.Domain;
using Cachier.Kubernetes;
using k8s;
using k8s.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Cachier.Tests.Contract;

/// <summary>
/// The credentials Cachier puts on its API calls, from the kubeconfig it is given (<see cref="KubeConnection.FromOptions"/>)
/// or from a token provider, as the API server (WireMock) receives them.
/// </summary>
public sealed class ConnectionContractTests : IDisposable
{
    private static readonly ResourceKind Deployment = ResourceKind.Parse("Deployment.v1.apps");

    private readonly WireMockServer _api = WireMockServer.Start();
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("cachier-conn-");

    public ConnectionContractTests() =>
        _api.Given(Request.Create().UsingGet().WithPath("/apis/apps/v1/namespaces/ns/deployments/web"))
            .RespondWith(Response.Create().WithStatusCode(404).WithHeader("Content-Type", "application/json")
                .WithBody("""{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}"""));

    public void Dispose()
    {
        _api.Stop();
        _dir.Delete(recursive: true);
    }

    [Fact]
    public async Task Kubeconfig_token_is_sent_as_a_bearer_token_on_every_call()
    {
        using var connection = FromKubeconfig("{token: s3cret-token}");

        await GetTwiceAsync(connection);

        Assert.Equal(new[] { "Bearer s3cret-token", "Bearer s3cret-token" }, Authorizations());
    }

    [Fact]
    public async Task Kubeconfig_username_and_password_are_sent_as_basic_auth()
    {
        using var connection = FromKubeconfig("{username: ada, password: 'p:w'}");

        await GetTwiceAsync(connection);

        var basic = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("ada:p:w"));
        Assert.Equal(new[] { basic, basic }, Authorizations());
    }

    [Fact]
    public async Task Api_server_url_without_a_kubeconfig_sends_no_authorization_header()
    {
        // Cachier:ApiServerUrl is for a local `kubectl proxy`, which adds the credentials itself.
        using var connection = KubeConnection.FromOptions(new CachierOptions { ApiServerUrl = _api.Url });

        await GetTwiceAsync(connection);

        Assert.Equal(new string?[] { null, null }, Authorizations());
    }

    [Fact]
    public async Task Token_provider_is_asked_on_every_call_so_a_rotated_token_is_used_at_once()
    {
        // The in-cluster configuration's provider re-reads the ServiceAccount token file kubelet rotates.
        var provider = new RotatingTokens("first", "second");
        using var connection = new KubeConnection(new KubernetesClientConfiguration { Host = _api.Url, TokenProvider = provider }, TimeSpan.FromSeconds(10));

        await GetTwiceAsync(connection);

        Assert.Equal(new[] { "Bearer first", "Bearer second" }, Authorizations());
    }

    [Theory]
    [InlineData("ftp://example.test")]
    [InlineData("not a url")]
    public void Api_server_address_that_is_not_an_http_url_is_refused_by_name(string host)
    {
        var e = Assert.Throws<InvalidOperationException>(() => new KubeConnection(new KubernetesClientConfiguration { Host = host }, TimeSpan.FromSeconds(1)));

        Assert.Contains($"'{host}'", e.Message);
    }

    [Fact]
    public async Task App_does_not_start_without_a_usable_kubeconfig_and_names_it()
    {
        // The connection is made beside the rest of the start-up; a failure must still stop the start. The host is built
        // here as Program builds it: WebApplicationFactory races a failed start (its deferred host reads the services of
        // the host the failed Run has already disposed, an ObjectDisposedException in place of the start's own error).
        var path = Path.Combine(_dir.FullName, "missing-kubeconfig");
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = [$"--Cachier:Kubeconfig={path}", "--Cachier:Authentication:Mode=None", "--urls=http://127.0.0.1:0"],
        });
        builder.AddCachier([]);
        builder.Logging.ClearProviders();
        await using var app = builder.Build();
        app.MapCachier();

        var e = await Record.ExceptionAsync(() => app.StartAsync());

        Assert.NotNull(e);
        Assert.Contains($"kubeconfig '{path}' does not exist", e.ToString());
    }

    [Fact]
    public async Task Port_opens_while_the_connection_is_made_and_an_event_waits_for_the_connection()
    {
        // The host waits for the connection only in StartedAsync, after Kestrel listens; a call made meanwhile waits for it.
        var connecting = new TaskCompletionSource<KubeConnection>(TaskCreationOptions.RunContinuationsAsynchronously);
        var settings = new CachierSettings(new CachierOptions());
        using var source = new KubeConnectionSource(connecting.Task, settings, NullLogger<KubeConnectionSource>.Instance);
        var api = new KubeApi(source, settings);

        var start = source.StartAsync(CancellationToken.None);
        var started = source.StartedAsync(CancellationToken.None);
        var get = api.GetWorkloadAsync(Deployment, "ns", "web", CancellationToken.None);

        Assert.True(start.IsCompletedSuccessfully);
        Assert.False(started.IsCompleted);
        Assert.False(get.IsCompleted);
        Assert.Empty(_api.LogEntries);

        connecting.SetResult(KubeConnection.FromOptions(new CachierOptions { ApiServerUrl = _api.Url }));
        await started;
        Assert.Null(await get);
        Assert.Single(_api.LogEntries);
    }

    [Fact]
    public async Task Failed_connection_fails_the_start_once_the_port_is_open()
    {
        var connecting = new TaskCompletionSource<KubeConnection>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var source = new KubeConnectionSource(connecting.Task, new CachierSettings(new CachierOptions()), NullLogger<KubeConnectionSource>.Instance);

        await source.StartAsync(CancellationToken.None);
        var started = source.StartedAsync(CancellationToken.None);
        connecting.SetException(new InvalidOperationException("No Kubernetes connection: kubeconfig 'gone' does not exist."));

        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => started);
        Assert.Contains("kubeconfig 'gone' does not exist", e.Message);
    }

    [Theory]
    [InlineData("https://api.example:6443", "ops.yaml", true, KubeConnection.Source.Url)]
    [InlineData(null, "ops.yaml", true, KubeConnection.Source.Kubeconfig)]
    [InlineData(null, null, true, KubeConnection.Source.InCluster)]
    [InlineData(null, null, false, KubeConnection.Source.DefaultKubeconfig)]
    public void A_kubeconfig_given_explicitly_wins_over_the_pods_own_credentials(string? url, string? kubeconfig, bool inCluster, KubeConnection.Source expected) =>
        Assert.Equal(expected, KubeConnection.SourceOf(new CachierOptions { ApiServerUrl = url, Kubeconfig = kubeconfig }, inCluster));

    private KubeConnection FromKubeconfig(string user)
    {
        var path = Path.Combine(_dir.FullName, "kubeconfig");
        File.WriteAllText(path, $$"""
            apiVersion: v1
            kind: Config
            clusters:
            - name: fake
              cluster: {server: '{{_api.Url}}'}
            users:
            - name: u
              user: {{user}}
            contexts:
            - name: c
              context: {cluster: fake, user: u}
            current-context: c
            """);
        return KubeConnection.FromOptions(new CachierOptions { Kubeconfig = path });
    }

    private static async Task GetTwiceAsync(KubeConnection connection)
    {
        var api = new KubeApi(new KubeConnectionSource(connection, NullLogger<KubeConnectionSource>.Instance), new CachierSettings(new CachierOptions()));
        for (var i = 0; i < 2; i++)
        {
            Assert.Null(await api.GetWorkloadAsync(Deployment, "ns", "web", CancellationToken.None));
        }
    }

    private string?[] Authorizations() =>
        _api.LogEntries.OrderBy(e => e.RequestMessage.DateTime)
            .Select(e => e.RequestMessage.Headers?.TryGetValue("Authorization", out var values) == true ? values.Single() : null)
            .ToArray();

    private sealed class RotatingTokens(params string[] tokens) : ITokenProvider
    {
        private int _next;

        public Task<AuthenticationHeaderValue> GetAuthenticationHeaderAsync(CancellationToken cancellationToken) =>
            Task.FromResult(new AuthenticationHeaderValue("Bearer", tokens[Math.Min(_next++, tokens.Length - 1)]));
    }
}
