using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Cachier.Tests.Reliability;

/// <summary>One request as the fake API server saw it arrive (before any injected delay).</summary>
public sealed record ApiRequest(string Method, string Path, string Query, string? Body, long ArrivedTimestamp)
{
    public string Line => $"{Method} {Path}{Query}";

    public JsonObject Json => JsonNode.Parse(Body ?? throw new InvalidOperationException($"{Line} has no body"))!.AsObject();

    public override string ToString() => Line;
}

/// <summary>What a fault hook answers instead of the fake's own behaviour.</summary>
public sealed record Fault(int Status, TimeSpan? Delay = null, IReadOnlyDictionary<string, string>? Headers = null, string? Reason = null);

/// <summary>
/// A small stateful Kubernetes API server on WireMock.Net (fresh per test): Deployments to GET and LIST, and Images
/// that are really created, listed by label, patched with resourceVersion checks and deleted with preconditions.
/// A test injects faults with <see cref="Hook"/>; every request is logged on arrival, so counts do not depend on
/// when (or whether) an answer was sent.
/// </summary>
public sealed class FakeApi : IDisposable
{
    public const string ImagesRoot = ApiPaths.ImagesRoot;

    private readonly object _gate = new();
    private readonly Dictionary<(string Ns, string Name), JsonObject> _deployments = [];
    private readonly Dictionary<(string Ns, string Name), JsonObject> _images = [];
    private readonly ConcurrentQueue<ApiRequest> _log = new();
    private readonly CancellationTokenSource _stopping = new();
    private int _resourceVersion = 1000;
    private int _uid;

    public FakeApi()
    {
        Server = WireMockServer.Start();
        Server.Given(Request.Create().WithPath(new WireMock.Matchers.RegexMatcher(".*")).UsingAnyMethod())
            .RespondWith(Response.Create().WithCallback(HandleAsync));
    }

    public WireMockServer Server { get; }

    public string Url => Server.Url!;

    /// <summary>Runs first for every request; a non-null answer replaces the fake's behaviour.</summary>
    public Func<ApiRequest, Fault?>? Hook { get; set; }

    /// <summary>A delay before the fake's own answer (a slow but healthy API server).</summary>
    public Func<ApiRequest, TimeSpan?>? Latency { get; set; }

    /// <summary>Raised for every request on arrival (after logging, before the hook).</summary>
    public event Action<ApiRequest>? Arrived;

    public IReadOnlyList<ApiRequest> Requests => [.. _log];

    public IReadOnlyList<string> Lines => Requests.Select(r => r.Line).ToList();

    public IReadOnlyList<ApiRequest> Writes => Requests.Where(r => r.Method != "GET").ToList();

    public void ClearLog() => _log.Clear();

    public static string DeploymentPath(string ns, string name) => $"/apis/apps/v1/namespaces/{ns}/deployments/{name}";

    public static string ImagesPath(string ns) => ApiPaths.ImagesPath(ns);

    public static string ImagePath(string ns, string name) => ApiPaths.ImagePath(ns, name);

    /// <summary>The writes of Images (<see cref="ApiPaths.IsImageWrite"/>): the Kubernetes Events aside.</summary>
    public IReadOnlyList<ApiRequest> ImageWrites(string? verb = null) => Requests.Where(r => ApiPaths.IsImageWrite(r.Method, r.Path, verb)).ToList();

    public void PutDeployment(JsonObject deployment)
    {
        var meta = deployment["metadata"]!;
        lock (_gate)
        {
            _deployments[((string)meta["namespace"]!, (string)meta["name"]!)] = (JsonObject)deployment.DeepClone();
        }
    }

    /// <summary>Stores an Image as if someone had created it; assigns uid and resourceVersion when missing.</summary>
    public JsonObject PutImage(JsonObject image)
    {
        lock (_gate)
        {
            var copy = (JsonObject)image.DeepClone();
            var meta = copy["metadata"]!.AsObject();
            meta["uid"] ??= NextUid();
            meta["resourceVersion"] ??= NextVersion();
            _images[((string)meta["namespace"]!, (string)meta["name"]!)] = copy;
            return (JsonObject)copy.DeepClone();
        }
    }

    public IReadOnlyList<JsonObject> Images(string ns)
    {
        lock (_gate)
        {
            return _images.Where(i => i.Key.Ns == ns).Select(i => (JsonObject)i.Value.DeepClone()).ToList();
        }
    }

    public JsonObject? Image(string ns, string name)
    {
        lock (_gate)
        {
            return _images.TryGetValue((ns, name), out var image) ? (JsonObject)image.DeepClone() : null;
        }
    }

    /// <summary>Someone else wrote the Image: its resourceVersion moves on.</summary>
    public string Touch(string ns, string name)
    {
        lock (_gate)
        {
            var version = NextVersion();
            _images[(ns, name)]["metadata"]!["resourceVersion"] = version;
            return version;
        }
    }

    private async Task<IResponseMessage> HandleAsync(IRequestMessage message)
    {
        var query = string.IsNullOrEmpty(message.RawQuery) ? "" : message.RawQuery.StartsWith('?') ? message.RawQuery : "?" + message.RawQuery;
        if (message.Path == ApiPaths.StartCheckPath)
        {
            // The app's start-up check (not an event's call): served, and kept out of the log and the hooks.
            return Answer(200, new JsonObject { ["kind"] = "APIResourceList", ["groupVersion"] = "caching.internal.knative.dev/v1alpha1", ["resources"] = new JsonArray() }, null);
        }

        var request = new ApiRequest(message.Method, message.Path, query, message.Body, Stopwatch.GetTimestamp());
        _log.Enqueue(request);
        Arrived?.Invoke(request);
        if (Hook?.Invoke(request) is { } fault)
        {
            if (fault.Delay is { } delay)
            {
                try
                {
                    await Task.Delay(delay, _stopping.Token);
                }
                catch (OperationCanceledException)
                {
                }
            }

            return Answer(fault.Status, Status(fault.Status, fault.Reason), fault.Headers);
        }

        if (Latency?.Invoke(request) is { } latency)
        {
            try
            {
                await Task.Delay(latency, _stopping.Token);
            }
            catch (OperationCanceledException)
            {
            }
        }

        lock (_gate)
        {
            var (status, body) = Serve(request);
            return Answer(status, body, null);
        }
    }

    private (int, JsonNode) Serve(ApiRequest request)
    {
        var segments = request.Path.Trim('/').Split('/');
        var parameters = Query(request.Query);

        // /apis/apps/v1/namespaces/{ns}/deployments/{name} and /apis/apps/v1/deployments
        if (request.Path.StartsWith("/apis/apps/v1/", StringComparison.Ordinal))
        {
            if (request.Method == "GET" && segments is [_, _, _, "namespaces", var ns, "deployments", var name])
            {
                return _deployments.TryGetValue((ns, name), out var deployment) ? (200, deployment.DeepClone()) : (404, Status(404));
            }

            if (request.Method == "GET" && segments is [_, _, _, "deployments"])
            {
                return (200, List("DeploymentList", _deployments.Values));
            }

            return (404, Status(404));
        }

        if (!request.Path.StartsWith(ImagesRoot + "/", StringComparison.Ordinal))
        {
            return (404, Status(404));
        }

        switch (request.Method, segments)
        {
            case ("GET", [_, _, _, "images"]):
                return (200, List("ImageList", _images.Values.Where(i => Labels(i).ContainsKey("controller"))));
            case ("GET", [_, _, _, "namespaces", var ns, "images"]):
                var selector = parameters.GetValueOrDefault("labelSelector") ?? "";
                var wanted = selector.Split('=', 2) is [var key, var value] ? (key, value) : (selector, (string?)null);
                return (200, List("ImageList", _images.Where(i => i.Key.Ns == ns).Select(i => i.Value)
                    .Where(i => Labels(i).TryGetValue(wanted.Item1, out var v) && (wanted.Item2 is null || v == wanted.Item2))));
            case ("GET", [_, _, _, "namespaces", var ns, "images", var name]):
                return _images.TryGetValue((ns, name), out var image) ? (200, image.DeepClone()) : (404, Status(404));
            case ("POST", [_, _, _, "namespaces", var ns, "images"]):
                var created = JsonNode.Parse(request.Body!)!.AsObject();
                var meta = created["metadata"]!.AsObject();
                var key2 = (ns, (string)meta["name"]!);
                if (_images.ContainsKey(key2))
                {
                    return (409, Status(409, "AlreadyExists"));
                }

                meta["uid"] = NextUid();
                meta["resourceVersion"] = NextVersion();
                _images[key2] = created;
                return (201, created.DeepClone());
            case ("PATCH", [_, _, _, "namespaces", var ns, "images", var name]):
                if (!_images.TryGetValue((ns, name), out var current))
                {
                    return (404, Status(404));
                }

                var patch = JsonNode.Parse(request.Body!)!.AsObject();
                if ((string?)patch["metadata"]?["resourceVersion"] is { } rv && rv != (string?)current["metadata"]!["resourceVersion"])
                {
                    return (409, Status(409, "Conflict"));
                }

                Merge(current, patch);
                current["metadata"]!["resourceVersion"] = NextVersion();
                return (200, current.DeepClone());
            case ("DELETE", [_, _, _, "namespaces", var ns, "images", var name]):
                if (!_images.TryGetValue((ns, name), out var doomed))
                {
                    return (404, Status(404));
                }

                var preconditions = request.Body is { Length: > 0 } ? JsonNode.Parse(request.Body)?["preconditions"] : null;
                if (((string?)preconditions?["uid"] is { } uid && uid != (string?)doomed["metadata"]!["uid"])
                    || ((string?)preconditions?["resourceVersion"] is { } version && version != (string?)doomed["metadata"]!["resourceVersion"]))
                {
                    return (409, Status(409, "Conflict"));
                }

                _images.Remove((ns, name));
                return (200, Status(200, "Success"));
            default:
                return (404, Status(404));
        }
    }

    /// <summary>JSON merge patch (RFC 7386): null removes, objects merge, everything else replaces.</summary>
    private static void Merge(JsonObject target, JsonObject patch)
    {
        foreach (var (key, value) in patch.ToList())
        {
            if (value is null)
            {
                target.Remove(key);
            }
            else if (value is JsonObject child && target[key] is JsonObject existing)
            {
                Merge(existing, child);
            }
            else
            {
                target[key] = value.DeepClone();
            }
        }
    }

    private static Dictionary<string, string> Labels(JsonObject obj) =>
        obj["metadata"]?["labels"]?.AsObject().ToDictionary(l => l.Key, l => (string?)l.Value ?? "") ?? [];

    private static Dictionary<string, string> Query(string query) =>
        query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Split('=', 2))
            .GroupBy(p => Uri.UnescapeDataString(p[0]))
            .ToDictionary(g => g.Key, g => Uri.UnescapeDataString(g.First().ElementAtOrDefault(1) ?? ""));

    private static JsonObject List(string kind, IEnumerable<JsonObject> items) => new()
    {
        ["apiVersion"] = "v1",
        ["kind"] = kind,
        ["metadata"] = new JsonObject { ["resourceVersion"] = "1" },
        ["items"] = new JsonArray(items.Select(i => (JsonNode)i.DeepClone()).ToArray()),
    };

    /// <summary>A Kubernetes <c>Status</c> body (the contract tests' builder).</summary>
    public static JsonObject Status(int code, string? reason = null) => AppHost.Status(code, reason);

    private static ResponseMessage Answer(int status, JsonNode body, IReadOnlyDictionary<string, string>? headers)
    {
        var all = new Dictionary<string, WireMockList<string>> { ["Content-Type"] = new("application/json") };
        foreach (var (name, value) in headers ?? new Dictionary<string, string>())
        {
            all[name] = new WireMockList<string>(value);
        }

        return new ResponseMessage
        {
            StatusCode = status,
            Headers = all,
            BodyData = new BodyData { BodyAsString = body.ToJsonString(), DetectedBodyType = BodyType.String },
        };
    }

    private string NextVersion() => (++_resourceVersion).ToString(System.Globalization.CultureInfo.InvariantCulture);

    private string NextUid() => $"image-uid-{++_uid:D4}";

    public void Dispose()
    {
        _stopping.Cancel();
        Server.Stop();
        Server.Dispose();
        _stopping.Dispose();
    }
}
