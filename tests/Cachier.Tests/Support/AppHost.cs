using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using Cachier.Domain;
using Cachier.Kubernetes;
using Cachier.Reconcile;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Cachier.Tests.Support;

/// <summary>What becomes of the Kubernetes Events the reconciler records.</summary>
public enum KubeEvents
{
    /// <summary>Kept in <see cref="AppHost.Notes"/>: exact call lists stay free of the recorder's asynchronous writes.</summary>
    Noted,

    /// <summary>The real recorder writes them to the API server (<see cref="AppHost.FlushEventsAsync"/>).</summary>
    Sent,
}

/// <summary>What differs between the tests' hosts of the app.</summary>
public sealed record AppOptions
{
    /// <summary>Where the app looks for the API server; with neither this nor <see cref="Kubeconfig"/>, a fresh WireMock server.</summary>
    public string? ApiServerUrl { get; init; }

    /// <summary>A kubeconfig of the real API server (the local cluster).</summary>
    public string? Kubeconfig { get; init; }

    public KubeEvents Events { get; init; } = KubeEvents.Noted;

    /// <summary>Extra <c>Cachier:*</c> settings (keys without the section prefix), applied last.</summary>
    public IReadOnlyList<(string Key, string Value)> Settings { get; init; } = [];

    /// <summary>More configuration of the app's host (say, a service replaced by a fault, a log provider).</summary>
    public Action<IWebHostBuilder>? Configure { get; init; }

    /// <summary>
    /// Over HTTP on a dynamic loopback port (<see cref="AppHost.Url"/>), as Knative would reach it, besides the in-memory
    /// client: for a sender outside this process.
    /// </summary>
    public bool OnLoopbackPort { get; init; }

    /// <summary>Bounds a test whose app would otherwise never answer (say, a LIST that loops on its continue token).</summary>
    public TimeSpan ClientTimeout { get; init; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// The tests' one host of the real app (<see cref="WebApplicationFactory{TEntryPoint}"/>), fresh per test: against a
/// WireMock API server of its own (the default, see AppHost.FakeApi.cs), a URL the test gives (a stateful fake, a socket
/// that resets or hangs, a closed port) or the real local API server (a kubeconfig). Sender authentication is off (its
/// own tests turn it on again through the settings); resyncs may come back to back. A startup filter records when the
/// server side of each request has finished, so a test can wait on that signal instead of on time.
/// </summary>
public sealed partial class AppHost : IDisposable
{
    private readonly WebApplicationFactory<Program> _factory;
    private readonly WireMockServer? _api;
    private readonly RequestObserver _observer = new();
    private readonly Lazy<HttpClient> _client;
    private TestIssuer? _issuer;

    private AppHost(AppOptions options, WireMockServer? api)
    {
        _api = api;
        _factory = new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            if (options.Kubeconfig is { } kubeconfig)
            {
                web.UseSetting("Cachier:Kubeconfig", kubeconfig);
            }
            else
            {
                web.UseSetting("Cachier:ApiServerUrl", options.ApiServerUrl ?? api!.Url);
            }

            web.UseSetting("Cachier:Authentication:Mode", "None");
            web.UseSetting("Cachier:ResyncMinInterval", "00:00:00");
            foreach (var (key, value) in options.Settings)
            {
                web.UseSetting($"Cachier:{key}", value);
            }

            web.ConfigureLogging(logging => logging.ClearProviders());
            web.ConfigureServices(services => services.AddSingleton<IStartupFilter>(_observer));
            if (options.Events == KubeEvents.Noted)
            {
                web.ConfigureTestServices(services => services.AddSingleton<IEventRecorder>(Notes));
            }

            options.Configure?.Invoke(web);
        });
        if (options.OnLoopbackPort)
        {
            // A Listen in code wins over the URLs the function sets from $PORT; the address Kestrel bound is read back.
            _factory.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
            _factory.StartServer();
            Url = _factory.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single() + "/";
        }

        _client = new Lazy<HttpClient>(() =>
        {
            var client = _factory.CreateClient();
            client.Timeout = options.ClientTimeout;
            return client;
        });
        if (!options.OnLoopbackPort)
        {
            // Starts the app now: a setting it refuses fails the test's Start, not its first request.
            _ = _client.Value;
        }
    }

    /// <summary>Starts the app as <paramref name="options"/> say.</summary>
    public static AppHost Start(AppOptions options) => Start(options, issuer: null);

    /// <summary>Against a fresh WireMock API server, with extra <c>Cachier:*</c> settings.</summary>
    public static AppHost Start(params (string Key, string Value)[] settings) => Start(new AppOptions { Settings = settings });

    /// <param name="apiServerUrl">Where the app looks for the API server; null: a fresh WireMock server.</param>
    public static AppHost Start(string? apiServerUrl, params (string Key, string Value)[] settings) =>
        Start(new AppOptions { ApiServerUrl = apiServerUrl, Settings = settings });

    /// <param name="configure">more configuration of the app's host (say, a port replaced by a fault).</param>
    public static AppHost Start(string? apiServerUrl, Action<IWebHostBuilder>? configure, params (string Key, string Value)[] settings) =>
        Start(new AppOptions { ApiServerUrl = apiServerUrl, Configure = configure, Settings = settings });

    /// <summary>The app with its real Event recorder, writing Events to the fake API server (<see cref="FlushEventsAsync"/>).</summary>
    public static AppHost StartWithEvents(params (string Key, string Value)[] settings) =>
        Start(new AppOptions { Events = KubeEvents.Sent, Settings = settings });

    private static AppHost Start(AppOptions options, TestIssuer? issuer)
    {
        var api = options.ApiServerUrl is null && options.Kubeconfig is null ? WireMockServer.Start() : null;
        if (issuer is not null)
        {
            // Before the app starts: it reads the keys as soon as it has started.
            StubIssuer(api ?? throw new InvalidOperationException("the issuer's keys are served by the fake API server"), issuer);
        }

        return new AppHost(options, api);
    }

    /// <summary>The in-memory client of the app.</summary>
    public HttpClient Client => _client.Value;

    /// <summary>The app's address on the loopback port, when <see cref="AppOptions.OnLoopbackPort"/>.</summary>
    public string? Url { get; }

    /// <summary>Another client of the app (say, for a second replica's requests or a longer timeout).</summary>
    public HttpClient CreateClient() => _factory.CreateClient();

    public IServiceProvider Services => _factory.Services;

    /// <summary>
    /// The notes the reconciler recorded, when the host runs with <see cref="KubeEvents.Noted"/> (the default).
    /// </summary>
    public NoteLog Notes { get; } = new();

    /// <summary>Waits until the recorder has written (or given up) every note recorded so far (<see cref="KubeEvents.Sent"/>).</summary>
    public Task FlushEventsAsync() =>
        Services.GetRequiredService<EventRecorder>().FlushAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));

    /// <summary>Completes when the server side of the next request to finish has finished (answered or aborted).</summary>
    public Task<TimeSpan> NextCompletion => _observer.Next;

    /// <summary>Starts the in-memory server and JIT-compiles the request path, so timings measure Cachier, not warm-up.</summary>
    public async Task WarmUpAsync()
    {
        using var response = await Client.GetAsync("/health/readiness");
        response.EnsureSuccessStatusCode();
        // An event for a kind that is not configured runs the whole edge and makes no API call.
        using var ignored = await SendRefAsync("update", "v1", "Secret", "warm", "up");
        ignored.EnsureSuccessStatusCode();
    }

    // ---- events (Support/CloudEvents.cs) -----------------------------------------------------------------

    /// <inheritdoc cref="CloudEvents.Binary"/>
    public Task<HttpResponseMessage> SendBinaryAsync(string type, System.Text.Json.Nodes.JsonNode? data, IReadOnlyDictionary<string, string>? extensions = null,
        IReadOnlyDictionary<string, string>? overrides = null, string? contentType = "application/json") =>
        Client.SendAsync(CloudEvents.Binary(type, data, extensions, overrides, contentType));

    /// <inheritdoc cref="CloudEvents.Ref"/>
    public Task<HttpResponseMessage> SendRefAsync(string verb, string apiVersion, string kind, string ns, string name, CancellationToken ct = default) =>
        Client.SendAsync(CloudEvents.Ref(verb, apiVersion, kind, ns, name), ct);

    /// <inheritdoc cref="CloudEvents.Resource"/>
    public Task<HttpResponseMessage> SendResourceAsync(string verb, System.Text.Json.Nodes.JsonObject workload) =>
        Client.SendAsync(CloudEvents.Resource(verb, workload));

    /// <inheritdoc cref="CloudEvents.SampleBinary"/>
    public Task<HttpResponseMessage> SendSampleBinaryAsync(string structuredFile, string dataFile) =>
        Client.SendAsync(CloudEvents.SampleBinary(structuredFile, dataFile));

    public Task<HttpResponseMessage> SendStructuredAsync(string json, string mediaType = "application/cloudevents+json") =>
        PostAsync("/", json, mediaType);

    public Task<HttpResponseMessage> PostAsync(string path, string body, string? mediaType) =>
        Client.PostAsync(path, CloudEvents.Body(body, mediaType));

    // ---- sender authentication ---------------------------------------------------------------------------

    public const string Audience = "serving.knative.dev/service/cachier-system/cachier";
    public const string SourceSender = "system:serviceaccount:cachier-system:cachier-oidc-sources.knative.dev-apiserversource";
    public const string PingSender = "system:serviceaccount:cachier-system:cachier-resync-oidc-sources.knative.dev-pingsource";

    /// <summary>Sender authentication on (the setting knative/service.yaml makes), plus <paramref name="more"/>.</summary>
    public static (string, string)[] Authenticated(params (string, string)[] more) =>
    [
        ("Authentication:Mode", "KubernetesToken"),
        ("Authentication:Audience", Audience),
        ("Authentication:AllowedSubjects", $"{SourceSender},{PingSender}"),
        .. more,
    ];

    /// <summary>Authentication on, and the fake API server publishing <paramref name="issuer"/>'s keys before the app starts.</summary>
    public static AppHost StartAuthenticated(TestIssuer issuer, params (string Key, string Value)[] settings) =>
        Start(new AppOptions { Settings = Authenticated(settings) }, issuer);

    /// <summary>
    /// The app as knative/ deploys it with embedded objects trusted: sender authentication on, the fake API server
    /// publishing a test issuer's keys, and the client sending that issuer's token of the ApiServerSource.
    /// </summary>
    public static AppHost StartTrusting(params (string, string)[] more)
    {
        var issuer = new TestIssuer();
        var host = StartAuthenticated(issuer, [("TrustEmbeddedObjects", "true"), .. more]);
        host._issuer = issuer;
        host.Client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", issuer.Token(SourceSender, Audience));
        return host;
    }

    public void Dispose()
    {
        if (_client.IsValueCreated)
        {
            _client.Value.Dispose();
        }

        _factory.Dispose();
        _issuer?.Dispose();
        _api?.Stop();
        _api?.Dispose();
    }

    private sealed class RequestObserver : IStartupFilter
    {
        private readonly Lock _gate = new();
        private TaskCompletionSource<TimeSpan> _next = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<TimeSpan> Next
        {
            get
            {
                lock (_gate)
                {
                    return _next.Task;
                }
            }
        }

        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use(async (context, inner) =>
            {
                var started = Stopwatch.GetTimestamp();
                try
                {
                    await inner(context);
                }
                finally
                {
                    TaskCompletionSource<TimeSpan> done;
                    lock (_gate)
                    {
                        done = _next;
                        _next = new TaskCompletionSource<TimeSpan>(TaskCreationOptions.RunContinuationsAsynchronously);
                    }

                    done.TrySetResult(Stopwatch.GetElapsedTime(started));
                }
            });
            next(app);
        };
    }
}

/// <summary>An <see cref="IEventRecorder"/> that keeps what it is given.</summary>
public sealed class NoteLog : IEventRecorder
{
    private readonly ConcurrentQueue<(Workload Subject, WorkloadNote Note)> _notes = new();

    public IReadOnlyList<(Workload Subject, WorkloadNote Note)> All => _notes.ToList();

    public void Record(Workload subject, WorkloadNote note) => _notes.Enqueue((subject, note));
}
