using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Cachier.Domain;
using Cachier.Kubernetes;
using Cachier.Reconcile;
using Cachier.Tests.Support;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using WireMock.Matchers;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace Cachier.Tests.Contract;

/// <summary>One request the app made to the fake API server, as WireMock logged it.</summary>
public sealed record ApiCall(string Method, string Path, string Query, string? Body, string? ContentType)
{
    /// <summary><c>VERB /path?query</c>: what the assertions compare.</summary>
    public string Line => $"{Method} {Path}{Query}";

    public JsonObject Json => JsonNode.Parse(Body ?? throw new InvalidOperationException($"{Line} has no body"))!.AsObject();

    public override string ToString() => Line;
}

/// <summary>
/// The real app (<see cref="WebApplicationFactory{TEntryPoint}"/>) pointed at a WireMock API server on a dynamic
/// port; both fresh per test, so no request log leaks between tests.
/// </summary>
public sealed class CachierHost : IDisposable
{
    public const string ImagesRoot = "/apis/caching.internal.knative.dev/v1alpha1";

    /// <summary>Where the app reads the service-account issuer's keys (sender authentication), not an event's cost.</summary>
    public const string DiscoveryPath = "/.well-known/openid-configuration";

    public const string KeysPath = "/openid/v1/jwks";

    public const string Audience = "serving.knative.dev/service/cachier-system/cachier";
    public const string SourceSender = "system:serviceaccount:cachier-system:cachier-oidc-sources.knative.dev-apiserversource";
    public const string PingSender = "system:serviceaccount:cachier-system:cachier-resync-oidc-sources.knative.dev-pingsource";

    private TestIssuer? _issuer;

    private readonly WebApplicationFactory<Program> _factory;

    /// <summary>Sender authentication on (the setting knative/service.yaml makes), plus <paramref name="more"/>.</summary>
    public static (string, string)[] Authenticated(params (string, string)[] more) =>
    [
        ("Authentication:Mode", "KubernetesToken"),
        ("Authentication:Audience", Audience),
        ("Authentication:AllowedSubjects", $"{SourceSender},{PingSender}"),
        .. more,
    ];

    /// <summary>
    /// The app as knative/ deploys it with embedded objects trusted: sender authentication on, the fake API server
    /// publishing a test issuer's keys, and the client sending that issuer's token of the ApiServerSource.
    /// </summary>
    public static CachierHost StartTrusting(params (string, string)[] more)
    {
        var issuer = new TestIssuer();
        var host = StartAuthenticated(issuer, [("TrustEmbeddedObjects", "true"), .. more]);
        host._issuer = issuer;
        host.Client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", host._issuer.Token(SourceSender, Audience));
        return host;
    }

    /// <summary>The fake API server publishes <paramref name="issuer"/>'s discovery document and keys (and <paramref name="more"/> keys).</summary>
    private static void StubIssuer(WireMockServer api, TestIssuer issuer, params TestIssuer[] more)
    {
        foreach (var (path, body) in new[] { (DiscoveryPath, issuer.Discovery()), (KeysPath, issuer.Jwks(more)) })
        {
            api.Given(Request.Create().WithPath(path).UsingGet()).AtPriority(5)
                .RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json").WithBody(body.ToJsonString()));
        }
    }

    private CachierHost(WireMockServer api, WebApplicationFactory<Program> factory, NoteLog notes)
    {
        Api = api;
        Notes = notes;
        _factory = factory;
        Client = factory.CreateClient();
        // Bounds a test whose app would otherwise never answer (say, a LIST that loops on its continue token).
        Client.Timeout = TimeSpan.FromSeconds(30);
    }

    public WireMockServer Api { get; }

    /// <summary>
    /// The notes the reconciler recorded, when the host runs with <see cref="NoteLog"/> in place of the Event recorder
    /// (the default: the exact call lists of the other contract tests stay free of the recorder's asynchronous writes).
    /// </summary>
    public NoteLog Notes { get; }

    /// <summary>The app with its real Event recorder, writing Events to the fake API server (<see cref="FlushEventsAsync"/>).</summary>
    public static CachierHost StartWithEvents(params (string Key, string Value)[] settings) => Start(null, null, null, settings, realEvents: true);

    /// <summary>Waits until the recorder has written (or given up) every note recorded so far.</summary>
    public Task FlushEventsAsync() =>
        Services.GetRequiredService<EventRecorder>().FlushAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));

    /// <summary>The calls on core/v1 Events.</summary>
    public IReadOnlyList<ApiCall> EventCalls => Calls.Where(c => c.Path.StartsWith("/api/v1/namespaces/", StringComparison.Ordinal) && c.Path.Contains("/events", StringComparison.Ordinal)).ToList();

    public HttpClient Client { get; }

    public IServiceProvider Services => _factory.Services;

    /// <param name="settings">Extra <c>Cachier:*</c> settings (keys without the section prefix).</param>
    public static CachierHost Start(params (string Key, string Value)[] settings) => Start(null, settings);

    /// <param name="apiServerUrl">Where the app looks for the API server; default the WireMock server.</param>
    public static CachierHost Start(string? apiServerUrl, params (string Key, string Value)[] settings) => Start(apiServerUrl, null, settings);

    /// <param name="configure">more configuration of the app's host (say, a port replaced by a fault).</param>
    public static CachierHost Start(string? apiServerUrl, Action<IWebHostBuilder>? configure, params (string Key, string Value)[] settings) =>
        Start(apiServerUrl, configure, null, settings);

    /// <summary>Authentication on, and the fake API server publishing <paramref name="issuer"/>'s keys before the app starts.</summary>
    public static CachierHost StartAuthenticated(TestIssuer issuer, params (string Key, string Value)[] settings) =>
        Start(null, null, issuer, Authenticated(settings));

    private static CachierHost Start(string? apiServerUrl, Action<IWebHostBuilder>? configure, TestIssuer? issuer, (string Key, string Value)[] settings,
        bool realEvents = false)
    {
        var api = WireMockServer.Start();
        var notes = new NoteLog();
        if (issuer is not null)
        {
            // Before the app starts: it reads the keys as soon as it has started.
            StubIssuer(api, issuer);
        }

        var factory = new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            web.UseSetting("Cachier:ApiServerUrl", apiServerUrl ?? api.Url);
            // The contract tests are about what events do; who may send them is SenderAuthenticationContractTests'
            // subject, which turns authentication on again through these settings.
            web.UseSetting("Cachier:Authentication:Mode", "None");
            web.UseSetting("Cachier:ResyncMinInterval", "00:00:00");
            foreach (var (key, value) in settings)
            {
                web.UseSetting($"Cachier:{key}", value);
            }

            web.ConfigureLogging(logging => logging.ClearProviders());
            if (!realEvents)
            {
                web.ConfigureTestServices(s => s.AddSingleton<IEventRecorder>(notes));
            }

            configure?.Invoke(web);
        });
        return new CachierHost(api, factory, notes);
    }

    public static string WorkloadPath(string apiVersion, string plural, string ns, string name) =>
        $"{(apiVersion.Contains('/') ? "/apis" : "/api")}/{apiVersion}/namespaces/{ns}/{plural}/{name}";

    public static string ImagesPath(string ns) => $"{ImagesRoot}/namespaces/{ns}/images";

    public static string ImagePath(string ns, string name) => $"{ImagesPath(ns)}/{name}";

    /// <summary>The query of the per-workload LIST: label selector <c>controller=&lt;uid&gt;</c>, percent-encoded.</summary>
    public static string ControllerQuery(string uid) => $"?labelSelector=controller%3D{uid}";

    // ---- stubs -------------------------------------------------------------------------------------------

    public void StubGetWorkload(string apiVersion, string plural, string ns, string name, JsonNode workload) =>
        Stub("GET", WorkloadPath(apiVersion, plural, ns, name), 200, workload);

    public void StubGetWorkloadStatus(string apiVersion, string plural, string ns, string name, int status, (string Name, string Value)? header = null) =>
        Stub("GET", WorkloadPath(apiVersion, plural, ns, name), status, Status(status), header);

    /// <summary>The namespaced LIST of Images (any label selector) answers these items.</summary>
    public void StubListImages(string ns, params JsonNode[] items) =>
        Stub("GET", ImagesPath(ns), 200, ImageList(null, items));

    public void StubListImagesStatus(string ns, int status) => Stub("GET", ImagesPath(ns), status, Status(status));

    public void StubGetImage(string ns, string name, JsonNode image) => Stub("GET", ImagePath(ns, name), 200, image);

    /// <summary>POST of any Image in the namespace answers <paramref name="status"/> and echoes the body when 201.</summary>
    public void StubCreate(string ns, int status = 201) =>
        Respond("POST", ImagesPath(ns), status, status == 201 ? null : Status(status), echo: status == 201);

    public void StubPatch(string ns, string name, int status = 200) =>
        Respond("PATCH", ImagePath(ns, name), status, status == 200 ? null : Status(status), echo: status == 200);

    public void StubDelete(string ns, string name, int status = 200) =>
        Stub("DELETE", ImagePath(ns, name), status, Status(status, status == 200 ? "Success" : null));

    /// <summary>
    /// A request answered with a JSON body. <paramref name="query"/> (name, value) pairs must match exactly and the
    /// <paramref name="absent"/> parameters must not be there.
    /// </summary>
    public void Stub(string method, string path, int status, JsonNode body, (string Name, string Value)? header = null,
        IReadOnlyList<(string Name, string Value)>? query = null, int priority = 10, TimeSpan? delay = null, IReadOnlyList<string>? absent = null)
    {
        var request = Request.Create().WithPath(path).UsingMethod(method);
        foreach (var (name, value) in query ?? [])
        {
            request = request.WithParam(name, value);
        }

        foreach (var name in absent ?? [])
        {
            request = request.WithParam(name, MatchBehaviour.RejectOnMatch);
        }

        var response = Response.Create()
            .WithStatusCode(status)
            .WithHeader("Content-Type", "application/json")
            .WithBody(body.ToJsonString());
        if (header is { } h)
        {
            response = response.WithHeader(h.Name, h.Value);
        }

        if (delay is { } d)
        {
            response = response.WithDelay(d);
        }

        Api.Given(request).AtPriority(priority).RespondWith(response);
    }

    private void Respond(string method, string path, int status, JsonNode? body, bool echo)
    {
        // The app only reads the status of a write; a 2xx answers a minimal object.
        var answer = echo ? new JsonObject { ["apiVersion"] = "caching.internal.knative.dev/v1alpha1", ["kind"] = "Image" } : body!;
        Stub(method, path, status, answer);
    }

    public static JsonObject ImageList(string? continueToken, IEnumerable<JsonNode> items)
    {
        var metadata = new JsonObject { ["resourceVersion"] = "900" };
        if (continueToken is not null)
        {
            metadata["continue"] = continueToken;
        }

        return new JsonObject
        {
            ["apiVersion"] = "caching.internal.knative.dev/v1alpha1",
            ["kind"] = "ImageList",
            ["metadata"] = metadata,
            ["items"] = new JsonArray(items.Select(i => i.DeepClone()).ToArray()),
        };
    }

    /// <summary>A Kubernetes <c>Status</c> body, as the API server answers errors.</summary>
    public static JsonObject Status(int code, string? reason = null) => new()
    {
        ["kind"] = "Status",
        ["apiVersion"] = "v1",
        ["status"] = code < 400 ? "Success" : "Failure",
        ["message"] = $"fake API server answered {code}",
        ["reason"] = reason ?? code switch
        {
            403 => "Forbidden",
            404 => "NotFound",
            409 => "AlreadyExists",
            429 => "TooManyRequests",
            503 => "ServiceUnavailable",
            504 => "Timeout",
            _ => "InternalError",
        },
        ["code"] = code,
    };

    // ---- what the app did --------------------------------------------------------------------------------

    /// <summary>What the app asked the API server for an event: every call but the reads of the issuer's keys.</summary>
    public IReadOnlyList<ApiCall> Calls => AllCalls.Where(c => c.Path is not (DiscoveryPath or KeysPath)).ToList();

    /// <summary>The reads of the issuer's keys (sender authentication).</summary>
    public IReadOnlyList<ApiCall> IssuerCalls => AllCalls.Where(c => c.Path is DiscoveryPath or KeysPath).ToList();

    public IReadOnlyList<ApiCall> AllCalls => Api.LogEntries
        .OrderBy(e => e.RequestMessage!.DateTime)
        .Select(e => e.RequestMessage!)
        .Select(r => new ApiCall(
            r.Method,
            r.Path,
            string.IsNullOrEmpty(r.RawQuery) ? "" : (r.RawQuery.StartsWith('?') ? r.RawQuery : "?" + r.RawQuery),
            r.Body,
            r.Headers is { } headers && headers.TryGetValue("Content-Type", out var ct) ? ct.ToString() : null))
        .ToList();

    public IReadOnlyList<string> Lines => Calls.Select(c => c.Line).ToList();

    public IReadOnlyList<ApiCall> Writes => Calls.Where(c => c.Method is not "GET").ToList();

    // ---- events ------------------------------------------------------------------------------------------

    /// <summary>
    /// Binary mode, as the ApiServerSource adapter sends: ce-* headers, the data as application/json.
    /// <paramref name="overrides"/> replaces headers (an empty value removes one).
    /// </summary>
    public Task<HttpResponseMessage> SendBinaryAsync(string type, JsonNode? data, IReadOnlyDictionary<string, string>? extensions = null,
        IReadOnlyDictionary<string, string>? overrides = null, string? contentType = "application/json")
    {
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
        {
            ["ce-specversion"] = "1.0",
            ["ce-id"] = Guid.NewGuid().ToString(),
            ["ce-source"] = "https://10.96.0.1:443",
            ["ce-type"] = type,
        };
        foreach (var (key, value) in extensions ?? new Dictionary<string, string>())
        {
            headers["ce-" + key] = value;
        }

        foreach (var (key, value) in overrides ?? new Dictionary<string, string>())
        {
            if (value.Length == 0)
            {
                headers.Remove(key);
            }
            else
            {
                headers[key] = value;
            }
        }

        var request = new HttpRequestMessage(HttpMethod.Post, "/") { Content = Body(data?.ToJsonString() ?? "", contentType) };
        foreach (var (key, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(key, value);
        }

        return Client.SendAsync(request);
    }

    /// <summary>A Reference-mode event: data = the object reference, the four extensions set.</summary>
    public Task<HttpResponseMessage> SendRefAsync(string verb, string apiVersion, string kind, string ns, string name) =>
        SendBinaryAsync($"dev.knative.apiserver.ref.{verb}",
            new JsonObject { ["kind"] = kind, ["namespace"] = ns, ["name"] = name, ["apiVersion"] = apiVersion },
            Extensions(apiVersion, kind, ns, name));

    /// <summary>A Resource-mode event: data = the whole object, extensions taken from it.</summary>
    public Task<HttpResponseMessage> SendResourceAsync(string verb, JsonObject workload)
    {
        var metadata = workload["metadata"]!;
        return SendBinaryAsync($"dev.knative.apiserver.resource.{verb}", workload,
            Extensions((string)workload["apiVersion"]!, (string)workload["kind"]!, (string)metadata["namespace"]!, (string)metadata["name"]!));
    }

    /// <summary>
    /// A sample of testassets/samples in binary mode, exactly as the adapter sends it: every attribute of the structured
    /// form but data and datacontenttype as a <c>Ce-*</c> header, the data file as the body, and <c>Kn-Namespace</c>.
    /// </summary>
    public Task<HttpResponseMessage> SendSampleBinaryAsync(string structuredFile, string dataFile)
    {
        var structured = JsonNode.Parse(Sample(structuredFile))!.AsObject();
        var request = new HttpRequestMessage(HttpMethod.Post, "/")
        {
            Content = Body(Sample(dataFile), (string)structured["datacontenttype"]!),
        };
        foreach (var (name, value) in structured)
        {
            if (name is not ("data" or "datacontenttype"))
            {
                request.Headers.TryAddWithoutValidation("Ce-" + char.ToUpperInvariant(name[0]) + name[1..], (string)value!);
            }
        }

        request.Headers.TryAddWithoutValidation("Kn-Namespace", "cachier");
        return Client.SendAsync(request);
    }

    /// <summary>The handled outcome of a single event: a 200-family JSON summary, never a reply event.</summary>
    public static async Task<JsonObject> OutcomeAsync(HttpResponseMessage response, HttpStatusCode expected = HttpStatusCode.OK)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(expected == response.StatusCode, $"expected {(int)expected}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        Assert.DoesNotContain(response.Headers, h => h.Key.StartsWith("ce-", StringComparison.OrdinalIgnoreCase));
        return JsonNode.Parse(text)!["outcome"]!.AsObject();
    }

    /// <summary>A rejected request: application/problem+json whose detail names what was wrong.</summary>
    public static async Task<JsonObject> ProblemAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(expected == response.StatusCode, $"expected {(int)expected}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonNode.Parse(text)!.AsObject();
        Assert.Equal((int)expected, (int?)problem["status"]);
        return problem;
    }

    public Task<HttpResponseMessage> SendStructuredAsync(string json, string mediaType = "application/cloudevents+json") =>
        PostAsync("/", json, mediaType);

    public Task<HttpResponseMessage> PostAsync(string path, string body, string? mediaType) =>
        Client.PostAsync(path, Body(body, mediaType));

    public static Dictionary<string, string> Extensions(string apiVersion, string kind, string ns, string name) => new()
    {
        ["apiversion"] = apiVersion,
        ["kind"] = kind,
        ["namespace"] = ns,
        ["name"] = name,
        ["subject"] = $"/apis/{apiVersion}/namespaces/{ns}/{kind.ToLowerInvariant()}s/{name}",
    };

    public static string Sample(string file) =>
        File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "testassets", "samples", file));

    private static ByteArrayContent Body(string text, string? mediaType)
    {
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(text));
        if (mediaType is not null)
        {
            content.Headers.ContentType = MediaTypeHeaderValue.Parse(mediaType);
        }

        return content;
    }

    public void Dispose()
    {
        Client.Dispose();
        _factory.Dispose();
        _issuer?.Dispose();
        Api.Stop();
        Api.Dispose();
    }
}

/// <summary>An <see cref="IEventRecorder"/> that keeps what it is given.</summary>
public sealed class NoteLog : IEventRecorder
{
    private readonly ConcurrentQueue<(Workload Subject, WorkloadNote Note)> _notes = new();

    public IReadOnlyList<(Workload Subject, WorkloadNote Note)> All => _notes.ToList();

    public void Record(Workload subject, WorkloadNote note) => _notes.Enqueue((subject, note));
}
