using System.Collections.Concurrent;
using System.Text.Json.Nodes;

namespace Cachier.Tests.Source;

/// <summary>
/// The stand-in's LIST and WATCH against a scripted API server (WireMock.Net, fresh per test): what the reflector under
/// the adapter does when a watch closes, when its resourceVersion is gone, and for objects the LIST returns.
/// </summary>
public sealed class WatchTests : IDisposable
{
    private const string Path = "/apis/apps/v1/namespaces/demo/deployments";

    private readonly WireMockServer _api = WireMockServer.Start();
    private readonly ConcurrentQueue<string> _calls = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly string _kubeconfig;
    private readonly Signal _arrived = new();
    private int _lists;

    public WatchTests()
    {
        _api.Given(Request.Create().UsingGet()).RespondWith(Response.Create().WithCallback(AnswerAsync));
        _kubeconfig = FakeKubeconfig.Write(_api.Url!);
    }

    [Fact]
    public async Task A_closed_watch_resumes_from_the_last_resourceVersion_and_410_Gone_relists_without_events()
    {
        using var sink = new RecordingSink();
        await using (var standIn = new StandIn("--kubeconfig", _kubeconfig, "--sink", sink.Url, "--namespace", "demo",
            "--resource", "apps/v1/deployments?app=web"))
        {
            // The last watch stays open with nothing to say: once it is asked for, everything before it is done.
            await _arrived.WaitAsync(() => _calls.Count == 6, TimeSpan.FromSeconds(30), () => $"six calls; the API got {string.Join(", ", _calls)}");
        }

        // The listed Deployment "listed" got no event; only what the watches reported did, in order.
        Assert.Equal(
            [("dev.knative.apiserver.ref.add", "web"), ("dev.knative.apiserver.ref.update", "web")],
            sink.Requests.Select(r => (r["Ce-Type"], r["Ce-Name"])));
        Assert.Equal(
            new[]
            {
                "list limit=1 labelSelector=app=web {Path} Bearer lab",
                "watch rv=10 bookmarks labelSelector=app=web {Path} Bearer lab",
                "watch rv=12 bookmarks labelSelector=app=web {Path} Bearer lab",
                "list limit=1 labelSelector=app=web {Path} Bearer lab",
                "watch rv=20 bookmarks labelSelector=app=web {Path} Bearer lab",
                "watch rv=21 bookmarks labelSelector=app=web {Path} Bearer lab",
            }.Select(c => c.Replace("{Path}", Path, StringComparison.Ordinal)),
            _calls);
    }

    public void Dispose()
    {
        _stopping.Cancel();
        _api.Dispose();
        File.Delete(_kubeconfig);
    }

    private async Task<IResponseMessage> AnswerAsync(IRequestMessage message)
    {
        string? Param(string name) => message.Query?.TryGetValue(name, out var values) == true ? values[0] : null;
        // No asserts in here: WireMock would swallow them. What was asked is recorded and checked by the test.
        var auth = message.Headers?.TryGetValue("Authorization", out var values) == true ? values[0] : "no token";
        var selector = $"labelSelector={Param("labelSelector")} {message.Path} {auth}";
        if (Param("watch") is null)
        {
            Record($"list limit={Param("limit")} {selector}");
            var version = Interlocked.Increment(ref _lists) == 1 ? "10" : "20";
            return Json(new JsonObject
            {
                ["kind"] = "DeploymentList",
                ["apiVersion"] = "apps/v1",
                ["metadata"] = new JsonObject { ["resourceVersion"] = version },
                ["items"] = new JsonArray(Deployment("listed", "9")),
            }.ToJsonString());
        }

        var rv = Param("resourceVersion");
        Record($"watch rv={rv}{(Param("allowWatchBookmarks") == "true" ? " bookmarks" : "")} {selector}");
        string Line(string type, JsonObject obj) => new JsonObject { ["type"] = type, ["object"] = obj }.ToJsonString() + "\n";
        switch (rv)
        {
            case "10":
                // Then the server closes the watch: the reflector watches again from the bookmark's resourceVersion.
                return Json(Line("ADDED", Deployment("web", "11")) + Line("BOOKMARK", new JsonObject
                {
                    ["kind"] = "Deployment",
                    ["apiVersion"] = "apps/v1",
                    ["metadata"] = new JsonObject { ["resourceVersion"] = "12" },
                }));
            case "12":
                return Json(Line("ERROR", new JsonObject
                {
                    ["kind"] = "Status",
                    ["apiVersion"] = "v1",
                    ["status"] = "Failure",
                    ["reason"] = "Expired",
                    ["message"] = "too old resource version: 12 (15)",
                    ["code"] = 410,
                }));
            case "20":
                return Json(Line("MODIFIED", Deployment("web", "21")));
            default:
                // A watch with nothing to say: open until the test ends.
                await Task.Delay(TimeSpan.FromMinutes(1), _stopping.Token).ContinueWith(_ => { }, TaskScheduler.Default);
                return Json("");
        }
    }

    private void Record(string call)
    {
        _calls.Enqueue(call);
        _arrived.Pulse();
    }

    private static JsonObject Deployment(string name, string resourceVersion) => new()
    {
        ["kind"] = "Deployment",
        ["apiVersion"] = "apps/v1",
        ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = "demo", ["resourceVersion"] = resourceVersion },
    };

    private static ResponseMessage Json(string body) => new()
    {
        StatusCode = 200,
        Headers = new Dictionary<string, WireMockList<string>> { ["Content-Type"] = new("application/json") },
        BodyData = new BodyData { BodyAsString = body, DetectedBodyType = BodyType.String },
    };
}
