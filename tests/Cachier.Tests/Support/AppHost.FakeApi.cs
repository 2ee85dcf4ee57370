using System.Text.Json.Nodes;

namespace Cachier.Tests.Support;

/// <summary>One request the app made to the fake API server, as WireMock logged it.</summary>
public sealed record ApiCall(string Method, string Path, string Query, string? Body, string? ContentType)
{
    /// <summary><c>VERB /path?query</c>: what the assertions compare.</summary>
    public string Line => $"{Method} {Path}{Query}";

    public JsonObject Json => JsonNode.Parse(Body ?? throw new InvalidOperationException($"{Line} has no body"))!.AsObject();

    public override string ToString() => Line;
}

/// <summary>The API server's paths the tests stub and assert, and which requests write Images.</summary>
public static class ApiPaths
{
    public const string ImagesRoot = "/apis/caching.internal.knative.dev/v1alpha1";

    /// <summary>What the app GETs once at start (the Image API's discovery document), not an event's cost.</summary>
    public const string StartCheckPath = ImagesRoot;

    /// <summary>Where the app reads the service-account issuer's keys (sender authentication), not an event's cost.</summary>
    public const string DiscoveryPath = "/.well-known/openid-configuration";

    public const string KeysPath = "/openid/v1/jwks";

    public static string WorkloadPath(string apiVersion, string plural, string ns, string name) =>
        $"{(apiVersion.Contains('/') ? "/apis" : "/api")}/{apiVersion}/namespaces/{ns}/{plural}/{name}";

    public static string ImagesPath(string ns) => $"{ImagesRoot}/namespaces/{ns}/images";

    public static string ImagePath(string ns, string name) => $"{ImagesPath(ns)}/{name}";

    // The warmer's reads and writes (SPEC 11).
    public const string NodesPath = "/api/v1/nodes";
    public const string PodsPath = "/api/v1/pods";
    public const string AllImagesPath = ImagesRoot + "/images";

    /// <summary>The LIST of the warmer's own pull pods, by its labels.</summary>
    public const string PullPodQuery = "?limit=500&labelSelector=app.kubernetes.io%2Fmanaged-by%3Dcachier-warmer%2Cwarm.cachier.dev%2Fscope%3De3b0c44298";

    public static string PodsOf(string ns) => $"/api/v1/namespaces/{ns}/pods";

    public static string StatusOf(string ns, string image) => ImagePath(ns, image) + "/status";

    /// <summary>The query of the per-workload LIST: label selector <c>controller=&lt;uid&gt;</c>, percent-encoded.</summary>
    public static string ControllerQuery(string uid) => $"?labelSelector=controller%3D{uid}";

    /// <summary>
    /// A write of Images (<paramref name="verb"/>: only that one, say <c>POST</c> for the creates). The Kubernetes Events
    /// about them are POSTs too, written off the reconcile: a count of Image writes must not count them.
    /// </summary>
    public static bool IsImageWrite(string method, string path, string? verb = null) =>
        method is not "GET" && (verb is null || method == verb) && path.StartsWith(ImagesRoot + "/", StringComparison.Ordinal)
        && (path.EndsWith("/images", StringComparison.Ordinal) || path.Contains("/images/", StringComparison.Ordinal));

    /// <summary>The Image writes among WireMock's log entries (a server the test set up by hand).</summary>
    public static IReadOnlyList<string> ImageWrites(WireMockServer api, string? verb = null) =>
        api.LogEntries.Select(e => e.RequestMessage!).Where(r => IsImageWrite(r.Method, r.Path, verb)).Select(r => $"{r.Method} {r.Path}").ToList();
}

/// <summary>The app's WireMock API server (the default host): stubs, and the requests the app made.</summary>
public sealed partial class AppHost
{
    public const string ImagesRoot = ApiPaths.ImagesRoot;
    public const string DiscoveryPath = ApiPaths.DiscoveryPath;
    public const string KeysPath = ApiPaths.KeysPath;

    /// <summary>The fake API server, fresh per host so no request log leaks between tests.</summary>
    public WireMockServer Api => _api ?? throw new InvalidOperationException("this host talks to an API server of the test's own, not to a WireMock server of its own");

    public static string WorkloadPath(string apiVersion, string plural, string ns, string name) => ApiPaths.WorkloadPath(apiVersion, plural, ns, name);

    public static string ImagesPath(string ns) => ApiPaths.ImagesPath(ns);

    public static string ImagePath(string ns, string name) => ApiPaths.ImagePath(ns, name);

    public static string ControllerQuery(string uid) => ApiPaths.ControllerQuery(uid);

    /// <summary>The fake API server publishes <paramref name="issuer"/>'s discovery document and keys (and <paramref name="more"/> keys).</summary>
    private static void StubIssuer(WireMockServer api, TestIssuer issuer, params TestIssuer[] more)
    {
        foreach (var (path, body) in new[] { (DiscoveryPath, issuer.Discovery()), (KeysPath, issuer.Jwks(more)) })
        {
            api.Given(Request.Create().WithPath(path).UsingGet()).AtPriority(5)
                .RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json").WithBody(body.ToJsonString()));
        }
    }

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

    /// <summary>What the app asked the API server for an event: every call but the reads of the issuer's keys and the start-up check.</summary>
    public IReadOnlyList<ApiCall> Calls => AllCalls.Where(c => c.Path is not (DiscoveryPath or KeysPath or ApiPaths.StartCheckPath)).ToList();

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

    /// <summary>The writes of Images (<see cref="ApiPaths.IsImageWrite"/>): the Kubernetes Events aside.</summary>
    public IReadOnlyList<ApiCall> ImageWrites(string? verb = null) => Calls.Where(c => ApiPaths.IsImageWrite(c.Method, c.Path, verb)).ToList();

    /// <summary>The calls on core/v1 Events.</summary>
    public IReadOnlyList<ApiCall> EventCalls => Calls.Where(c => c.Path.StartsWith("/api/v1/namespaces/", StringComparison.Ordinal) && c.Path.Contains("/events", StringComparison.Ordinal)).ToList();
}
