using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Cachier.Tests.Support;
using Cachier.Tests.Unit;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using static Cachier.Tests.Support.AppHost;
using static Cachier.Tests.Support.CloudEvents;
using static Cachier.Tests.Support.Objects;

namespace Cachier.Tests.Contract;

/// <summary>
/// The warmer (SPEC 11) run as the real app with <c>Cachier:Role=warmer</c> against a fake API server: every trigger
/// runs one level-based pass (LIST nodes, pull pods, Images; GET each owner; delete, create, write status), with the
/// exact verbs, paths, queries and bodies.
/// </summary>
public sealed class WarmerContractTests
{
    private const string Uid = "5b1c7f3e-2d4a-4c8b-9e6f-0a1b2c3d4e5f";
    private const string ImageName = "web-nginx";
    private const string ImageApiVersion = "caching.internal.knative.dev/v1alpha1";
    private static readonly string OwnerPath = WorkloadPath("apps/v1", "deployments", Ns, "web");
    private static readonly string NodesList = $"GET {ApiPaths.NodesPath}?limit=500";
    private static readonly string PodsList = $"GET {ApiPaths.PodsPath}{ApiPaths.PullPodQuery}";
    private static readonly string ImagesList = $"GET {ApiPaths.AllImagesPath}?limit=500";

    private static AppHost StartWarmer() => Start(("Role", "warmer"));

    private static JsonObject Web(JsonArray? tolerations = null)
    {
        var web = Deployment("web", Uid, 3, ["nginx:1.25"]);
        if (tolerations is not null)
        {
            web["spec"]!["template"]!["spec"]!["tolerations"] = tolerations;
        }

        return web;
    }

    private static JsonObject NginxImage() =>
        Image(ImageName, "img-1", "100", "nginx:1.25", OurLabels(Uid, 3), ControllerRef("apps/v1", "Deployment", "web", Uid));

    private static void StubCluster(AppHost host, JsonNode[] nodes, JsonNode[] pods, JsonNode[] images, JsonObject? owner, int priority = 10)
    {
        host.Stub("GET", ApiPaths.NodesPath, 200, List("v1", "NodeList", nodes), priority: priority);
        host.Stub("GET", ApiPaths.PodsPath, 200, List("v1", "PodList", pods), priority: priority);
        host.Stub("GET", ApiPaths.AllImagesPath, 200, List(ImageApiVersion, "ImageList", images), priority: priority);
        if (owner is not null)
        {
            host.Stub("GET", OwnerPath, 200, owner, priority: priority);
        }
    }

    private static void StubWrites(AppHost host, int createStatus = 201, string refusal = "exceeded quota: pods, requested: pods=1, used: pods=10, limited: pods=10")
    {
        host.Stub("POST", ApiPaths.PodsOf(Ns), createStatus, createStatus == 201
            ? new JsonObject { ["apiVersion"] = "v1", ["kind"] = "Pod" }
            : CreateRefusal(createStatus, refusal));
        host.Stub("DELETE", $"{ApiPaths.PodsOf(Ns)}/{ExpectedNames.PullPod("node-a", null, null, "nginx:1.25")}", 200, Status(200, "Success"));
        host.Stub("PATCH", ApiPaths.StatusOf(Ns, ImageName), 200, new JsonObject { ["apiVersion"] = ImageApiVersion, ["kind"] = "Image" });
    }

    private static JsonObject CreateRefusal(int status, string refusal)
    {
        var body = Status(status);
        body["message"] = $"pods \"{ExpectedNames.PullPod("node-a", null, null, "nginx:1.25")}\" is forbidden: {refusal}";
        return body;
    }

    private static Task<HttpResponseMessage> SendImageEventAsync(AppHost host) =>
        host.SendRefAsync("update", ImageApiVersion, "Image", Ns, ImageName);

    private static Task<HttpResponseMessage> SendPingAsync(AppHost host) =>
        host.SendBinaryAsync("dev.knative.sources.ping", null, overrides: new Dictionary<string, string>
        {
            ["ce-source"] = "/apis/v1/namespaces/cachier/pingsources/cachier-warm",
        });

    /// <summary>The pass summary a warm trigger answers with.</summary>
    private static async Task<JsonObject> PassAsync(HttpResponseMessage response, HttpStatusCode expected = HttpStatusCode.OK)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(expected == response.StatusCode, $"expected {(int)expected}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        return JsonNode.Parse(text)!["warm"]!.AsObject();
    }

    /// <summary>A JSON patch that replaces the whole status subresource; answers the status written.</summary>
    private static JsonObject AssertStatusPatch(ApiCall call, string image = ImageName)
    {
        Assert.Equal("PATCH", call.Method);
        Assert.Equal(ApiPaths.StatusOf(Ns, image), call.Path);
        Assert.Equal("", call.Query);
        Assert.StartsWith("application/json-patch+json", call.ContentType);
        var op = Assert.Single(JsonNode.Parse(call.Body!)!.AsArray())!.AsObject();
        Assert.Equal("add", (string?)op["op"]);
        Assert.Equal("/status", (string?)op["path"]);
        return op["value"]!.AsObject();
    }

    /// <summary>The Ready condition, and the time the pass wrote (to the second, within the test's window).</summary>
    private static (string Status, string Reason, string Message, string Time) Ready(JsonObject status, DateTimeOffset before, DateTimeOffset after)
    {
        var ready = Assert.Single(status["conditions"]!.AsArray())!.AsObject();
        Assert.Equal("Ready", (string?)ready["type"]);
        var time = (string)ready["lastTransitionTime"]!;
        var parsed = DateTimeOffset.ParseExact(time, "yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
        Assert.InRange(parsed, before.AddSeconds(-1), after);
        return ((string)ready["status"]!, (string)ready["reason"]!, (string)ready["message"]!, time);
    }

    /// <summary>The reads a pass sent, in order (its writes left out).</summary>
    private static IEnumerable<string> Reads(AppHost host) => Reads(host.Lines);

    private static IEnumerable<string> Reads(IEnumerable<string> lines) => lines.Where(l => l.StartsWith("GET ", StringComparison.Ordinal));

    private static Dictionary<string, string> Records(JsonObject status) =>
        status["annotations"]!.AsObject().ToDictionary(a => a.Key, a => (string)a.Value!);

    /// <summary>Issue 15 part 3: <c>cachier plan --warmer</c> is the same pass with its writes taken down: only reads are sent.</summary>
    [Fact]
    public async Task Warm_plan_lists_the_pull_pod_a_pass_would_create_and_sends_only_reads()
    {
        using var host = Start();
        StubCluster(host, [ClusterNode("node-a")], [], [NginxImage()], Web());
        var settings = new CachierSettings(new CachierOptions { ApiServerUrl = host.Api.Url, Role = CachierOptions.RoleWarmer });

        var plan = await Cachier.Plan.PlanCommand.PlanWarmAsync(settings, CancellationToken.None);

        Assert.Equal([NodesList, PodsList, ImagesList, $"GET {OwnerPath}"], host.Lines);
        Assert.Equal(("completed", 1, 1, 1), (plan.Result, plan.Nodes, plan.Images, plan.Statuses));
        var pod = Assert.Single(plan.Create);
        Assert.Equal((Ns, ExpectedNames.PullPod("node-a", null, null, "nginx:1.25"), "node-a", "nginx:1.25"), (pod.Namespace, pod.Name, pod.Node, Assert.Single(pod.Images)));
        Assert.Empty(plan.Delete);
        Assert.Matches($@"node-a +create +{Ns}/{ExpectedNames.PullPod("node-a", null, null, "nginx:1.25")} +nginx:1\.25\n", Cachier.Plan.WarmPlanReport.Table(plan));
    }

    [Fact]
    public async Task Image_event_runs_a_pass_that_creates_the_pull_pod_and_writes_the_status_Pulling()
    {
        using var host = StartWarmer();
        StubCluster(host, [ClusterNode("node-a")], [], [NginxImage()], Web());
        StubWrites(host);
        var before = DateTimeOffset.UtcNow;

        var pass = await PassAsync(await SendImageEventAsync(host));

        var after = DateTimeOffset.UtcNow;
        var calls = host.Calls;
        Assert.Equal([NodesList, PodsList, ImagesList, $"GET {OwnerPath}", $"POST {ApiPaths.PodsOf(Ns)}", $"PATCH {ApiPaths.StatusOf(Ns, ImageName)}"], host.Lines);
        Assert.StartsWith("application/json", calls[4].ContentType);
        JsonDiff.AssertEqual(PullPod(Ns, "node-a", ["nginx:1.25"]), calls[4].Json, "the pull pod");
        var status = AssertStatusPatch(calls[5]);
        var (ready, reason, message, time) = Ready(status, before, after);
        Assert.Equal(("Unknown", "Pulling", "pulling on node-a"), (ready, reason, message));
        Assert.Equal(1, (long?)status["observedGeneration"]);
        Assert.Equal(new Dictionary<string, string> { [NodeRecordPrefix + "node-a"] = $"Pulling {time}" }, Records(status));
        Assert.Equal("completed", (string?)pass["result"]);
        Assert.Equal(1, (int?)pass["nodes"]);
        Assert.Equal(1, (int?)pass["images"]);
        Assert.Equal(1, (int?)pass["podsCreated"]);
        Assert.Equal(1, (int?)pass["statusesWritten"]);
    }

    [Fact]
    public async Task Ping_runs_a_pass_that_deletes_a_finished_pull_pod_with_a_uid_precondition_and_writes_Pulled()
    {
        using var host = StartWarmer();
        var pullPod = Listed(PullPod(Ns, "node-a", ["nginx:1.25"]), "pod-uid-1", "2026-11-30T11:58:00Z", new JsonObject
        {
            ["phase"] = "Succeeded",
            ["containerStatuses"] = new JsonArray(ContainerStatus("warm-0", "docker.io/library/nginx:1.25",
                new JsonObject { ["terminated"] = new JsonObject { ["exitCode"] = 0, ["reason"] = "Completed" } },
                "docker.io/library/nginx@sha256:" + new string('a', 64))),
        });
        var pulling = new JsonObject
        {
            ["observedGeneration"] = 1,
            ["conditions"] = new JsonArray(new JsonObject
            {
                ["type"] = "Ready",
                ["status"] = "Unknown",
                ["reason"] = "Pulling",
                ["message"] = "pulling on node-a",
                ["lastTransitionTime"] = "2026-11-30T11:58:00Z",
            }),
            ["annotations"] = new JsonObject { [NodeRecordPrefix + "node-a"] = "Pulling 2026-11-30T11:58:00Z" },
        };
        StubCluster(host, [ClusterNode("node-a")], [pullPod], [WithStatus(NginxImage(), pulling)], Web());
        StubWrites(host);
        var before = DateTimeOffset.UtcNow;

        var pass = await PassAsync(await SendPingAsync(host));

        var after = DateTimeOffset.UtcNow;
        var calls = host.Calls;
        var podName = ExpectedNames.PullPod("node-a", null, null, "nginx:1.25");
        Assert.Equal([NodesList, PodsList, ImagesList, $"GET {OwnerPath}", $"DELETE {ApiPaths.PodsOf(Ns)}/{podName}", $"PATCH {ApiPaths.StatusOf(Ns, ImageName)}"], host.Lines);
        var delete = calls[4].Json;
        Assert.Equal("DeleteOptions", (string?)delete["kind"]);
        Assert.Equal("pod-uid-1", (string?)delete["preconditions"]!["uid"]);
        var status = AssertStatusPatch(calls[5]);
        var (ready, reason, message, time) = Ready(status, before, after);
        Assert.Equal(("True", "Pulled", "present on node-a"), (ready, reason, message));
        Assert.Equal(new Dictionary<string, string> { [NodeRecordPrefix + "node-a"] = $"Pulled {time}" }, Records(status));
        Assert.Equal(1, (int?)pass["podsDeleted"]);
        Assert.Equal(0, (int?)pass["podsCreated"]);
    }

    [Fact]
    public async Task Second_pass_over_the_pulling_pod_and_the_status_it_wrote_writes_nothing()
    {
        using var host = StartWarmer();
        StubCluster(host, [ClusterNode("node-a")], [], [NginxImage()], Web());
        StubWrites(host);
        await PassAsync(await SendImageEventAsync(host));
        var created = host.Calls.Single(c => c.Method == "POST").Json;
        var written = AssertStatusPatch(host.Calls.Single(c => c.Method == "PATCH"));
        var stillPulling = Listed(created, "pod-uid-1", DateTimeOffset.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture), new JsonObject
        {
            ["phase"] = "Pending",
            ["containerStatuses"] = new JsonArray(ContainerStatus("warm-0", "nginx:1.25", new JsonObject
            {
                ["waiting"] = new JsonObject { ["reason"] = "ContainerCreating" },
            })),
        });
        // The cluster as the first pass left it: its pod, pulling, and the Image with the status it wrote.
        StubCluster(host, [ClusterNode("node-a")], [stillPulling], [WithStatus(NginxImage(), written)], Web(), priority: 1);
        host.Api.ResetLogEntries();

        var pass = await PassAsync(await SendPingAsync(host));

        // The owner was read by the first pass, within Warmer:OwnerCacheTtl (30 s): this pass does not read it again.
        Assert.Equal([NodesList, PodsList, ImagesList], host.Lines);
        Assert.Equal(0, (int?)pass["statusesWritten"]);
        Assert.Equal(0, (int?)pass["podsCreated"]);
        Assert.Equal(0, (int?)pass["podsDeleted"]);
    }

    [Fact]
    public async Task Owner_read_by_a_pass_serves_the_passes_within_OwnerCacheTtl_and_is_read_again_after_it()
    {
        var clock = new ManualClock();
        using var host = Start(null, web => web.ConfigureTestServices(s => s.AddSingleton<TimeProvider>(clock)), ("Role", "warmer"), ("Warmer:OwnerCacheTtl", "00:00:30"));
        StubCluster(host, [ClusterNode("node-a")], [], [NginxImage()], Web());
        StubWrites(host);
        string[] withOwner = [NodesList, PodsList, ImagesList, $"GET {OwnerPath}"];
        var passes = new List<string[]>();
        foreach (var wait in new[] { 0, 29, 2 })
        {
            clock.Advance(TimeSpan.FromSeconds(wait));
            host.Api.ResetLogEntries();
            await PassAsync(await SendPingAsync(host));
            passes.Add([.. Reads(host)]);
        }

        // Read by the first pass; 29 s later the pass takes it from the cache; 31 s after the read, it is read again.
        Assert.Equal(withOwner, passes[0]);
        Assert.Equal([NodesList, PodsList, ImagesList], passes[1]);
        Assert.Equal(withOwner, passes[2]);
    }

    [Fact]
    public async Task OwnerCacheTtl_zero_reads_every_owner_in_every_pass()
    {
        using var host = Start(("Role", "warmer"), ("Warmer:OwnerCacheTtl", "00:00:00"));
        StubCluster(host, [ClusterNode("node-a")], [], [NginxImage()], Web());
        StubWrites(host);
        await PassAsync(await SendPingAsync(host));
        host.Api.ResetLogEntries();

        await PassAsync(await SendPingAsync(host));

        Assert.Equal([NodesList, PodsList, ImagesList, $"GET {OwnerPath}"], Reads(host));
    }

    [Fact]
    public async Task Owner_the_warmer_may_not_read_warms_the_image_on_untainted_nodes_only()
    {
        using var host = StartWarmer();
        StubCluster(host, [ClusterNode("node-a"), ClusterNode("node-b", Taint("dedicated", "gpu", "NoSchedule"))], [], [NginxImage()], owner: null);
        host.StubGetWorkloadStatus("apps/v1", "deployments", Ns, "web", 403);
        StubWrites(host);

        var pass = await PassAsync(await SendImageEventAsync(host));

        var calls = host.Calls;
        Assert.Equal([NodesList, PodsList, ImagesList, $"GET {OwnerPath}", $"POST {ApiPaths.PodsOf(Ns)}", $"PATCH {ApiPaths.StatusOf(Ns, ImageName)}"], host.Lines);
        JsonDiff.AssertEqual(PullPod(Ns, "node-a", ["nginx:1.25"]), calls[4].Json, "the pull pod on the untainted node");
        var status = AssertStatusPatch(calls[5]);
        Assert.Equal("pulling on node-a", (string?)status["conditions"]![0]!["message"]);
        Assert.Equal([NodeRecordPrefix + "node-a"], Records(status).Keys);
        Assert.Equal("completed", (string?)pass["result"]);
    }

    [Fact]
    public async Task Owner_tolerations_admit_a_tainted_node_and_go_onto_its_pull_pod()
    {
        using var host = StartWarmer();
        var tolerations = new JsonArray(new JsonObject { ["key"] = "dedicated", ["operator"] = "Equal", ["value"] = "gpu", ["effect"] = "NoSchedule" });
        StubCluster(host, [ClusterNode("node-a"), ClusterNode("node-b", Taint("dedicated", "gpu", "NoSchedule"))], [], [NginxImage()], Web(tolerations));
        StubWrites(host);

        await PassAsync(await SendImageEventAsync(host));

        var creates = host.Calls.Where(c => c.Method == "POST").Select(c => c.Json).OrderBy(p => (string?)p["spec"]!["nodeName"], StringComparer.Ordinal).ToList();
        Assert.Equal(2, creates.Count);
        JsonDiff.AssertEqual(PullPod(Ns, "node-a", ["nginx:1.25"], tolerations: tolerations), creates[0], "the pull pod on node-a");
        JsonDiff.AssertEqual(PullPod(Ns, "node-b", ["nginx:1.25"], tolerations: tolerations), creates[1], "the pull pod on node-b");
    }

    [Theory]
    [InlineData("exceeded quota: pods, requested: pods=1, used: pods=10, limited: pods=10", "QuotaExceeded")]
    [InlineData("failed quota: compute: must specify limits.cpu", "QuotaExceeded")]
    [InlineData("violates PodSecurity \"restricted:latest\": unrestricted capabilities", "PullPodRefused")]
    public async Task Refused_pull_pod_create_is_a_failed_attempt_reported_with_why(string refusal, string reason)
    {
        using var host = StartWarmer();
        StubCluster(host, [ClusterNode("node-a")], [], [NginxImage()], Web());
        StubWrites(host, createStatus: 403, refusal: refusal);

        var pass = await PassAsync(await SendImageEventAsync(host));

        var calls = host.Calls;
        Assert.Equal([NodesList, PodsList, ImagesList, $"GET {OwnerPath}", $"POST {ApiPaths.PodsOf(Ns)}", $"PATCH {ApiPaths.StatusOf(Ns, ImageName)}"], host.Lines);
        var status = AssertStatusPatch(calls[5]);
        var ready = status["conditions"]![0]!;
        Assert.Equal("False", (string?)ready["status"]);
        Assert.Equal(reason, (string?)ready["reason"]);
        Assert.StartsWith($"{reason} on node-a: ", (string?)ready["message"]);
        Assert.Contains(refusal, (string?)ready["message"]);
        var record = Records(status)[NodeRecordPrefix + "node-a"];
        Assert.Matches($"^{reason} \\d{{4}}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ x1: ", record);
        Assert.EndsWith(refusal, record);
        // Not the warmer's fault and not worth a redelivery: the pull is retried with backoff by a later pass.
        Assert.Equal("completed", (string?)pass["result"]);
        Assert.Equal(0, (int?)pass["podsCreated"]);
    }

    [Fact]
    public async Task Node_list_failing_with_503_answers_503_with_retry_after_and_writes_nothing()
    {
        using var host = StartWarmer();
        StubCluster(host, [ClusterNode("node-a")], [], [NginxImage()], Web());
        host.Stub("GET", ApiPaths.NodesPath, 503, Status(503), priority: 1);
        StubWrites(host);

        var response = await SendPingAsync(host);

        var pass = await PassAsync(response, HttpStatusCode.ServiceUnavailable);
        Assert.True(response.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1), "Retry-After must be at least one second");
        Assert.Equal("unavailable", (string?)pass["result"]);
        // The app may retry the LIST in-process (bounded); it never goes on.
        Assert.NotEmpty(host.Lines);
        Assert.All(host.Lines, line => Assert.Equal(NodesList, line));
    }

    /// <summary>A Node event as the warmer's ApiServerSource sends it (Reference mode: the node is cluster-scoped).</summary>
    private static Task<HttpResponseMessage> SendNodeEventAsync(AppHost host, string node) =>
        host.SendBinaryAsync("dev.knative.apiserver.ref.update", new JsonObject { ["kind"] = "Node", ["name"] = node, ["apiVersion"] = "v1" },
            new Dictionary<string, string> { ["apiversion"] = "v1", ["kind"] = "Node", ["name"] = node, ["subject"] = $"/api/v1/nodes/{node}" });

    private static readonly string NodeAPath = $"{ApiPaths.NodesPath}/node-a";

    private static readonly string NodeRead = $"GET {NodeAPath}";

    [Fact]
    public async Task Node_event_after_a_settled_pass_reads_that_node_and_runs_a_pass_only_when_something_the_warmer_reads_changed()
    {
        using var host = StartWarmer();
        var reporting = ClusterNode("node-a", images: ["docker.io/library/nginx:1.25"]);
        StubCluster(host, [reporting], [], [NginxImage()], Web());
        StubWrites(host);
        var first = await PassAsync(await SendPingAsync(host));
        Assert.Equal(1, (int?)first["statusesWritten"]); // Ready: present on node-a; nothing pulls, nothing waits on the time
        host.Stub("GET", NodeAPath, 200, Heartbeat(reporting));
        var lines = new List<string[]>();
        var results = new List<string>();

        async Task NodeEventAsync()
        {
            host.Api.ResetLogEntries();
            results.Add((string)(await PassAsync(await SendNodeEventAsync(host, "node-a")))["result"]!);
            lines.Add([.. host.Lines]);
        }

        // A heartbeat: only the resourceVersion and the conditions' times moved.
        await NodeEventAsync();
        // A label the owner's node selector could read: a pass (the owner is still in the cache).
        var relabelled = Heartbeat(reporting);
        relabelled["metadata"]!["labels"]!["topology.kubernetes.io/zone"] = "zone-b";
        host.Stub("GET", NodeAPath, 200, relabelled);
        host.Stub("GET", ApiPaths.NodesPath, 200, List("v1", "NodeList", [relabelled]), priority: 1);
        await NodeEventAsync();
        // That pass settled too, with the relabelled node: the same node again is no pass; a node gone is one.
        await NodeEventAsync();
        host.Stub("GET", NodeAPath, 404, Status(404, "NotFound"));
        await NodeEventAsync();

        Assert.Equal(["unchanged", "completed", "unchanged", "completed"], results);
        // No pass: that one read and nothing else. A pass: its reads (the fake's Image keeps no status, so it is written again).
        Assert.Equal([NodeRead], lines[0]);
        Assert.Equal([NodeRead, NodesList, PodsList, ImagesList], Reads(lines[1]));
        Assert.Equal([NodeRead], lines[2]);
        Assert.Equal([NodeRead, NodesList, PodsList, ImagesList], Reads(lines[3]));

        static JsonObject Heartbeat(JsonObject node)
        {
            var beat = node.DeepClone().AsObject();
            beat["metadata"]!["resourceVersion"] = "1001";
            foreach (var condition in beat["status"]!["conditions"]!.AsArray())
            {
                condition!["lastHeartbeatTime"] = "2026-11-30T12:05:00Z";
            }

            return beat;
        }
    }

    [Fact]
    public async Task Node_event_while_a_pull_is_on_runs_a_pass_without_reading_the_node()
    {
        using var host = StartWarmer();
        StubCluster(host, [ClusterNode("node-a")], [], [NginxImage()], Web());
        StubWrites(host);
        var first = await PassAsync(await SendImageEventAsync(host));
        Assert.Equal(1, (int?)first["podsCreated"]);
        host.Api.ResetLogEntries();

        var pass = await PassAsync(await SendNodeEventAsync(host, "node-a"));

        Assert.Equal("completed", (string?)pass["result"]);
        Assert.Equal([NodesList, PodsList, ImagesList], Reads(host));
    }

    [Fact]
    public async Task Deployment_event_in_the_warmer_role_is_ignored_without_an_api_call()
    {
        using var host = StartWarmer();

        var response = await host.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web");

        var outcome = await OutcomeAsync(response);
        Assert.Equal("ignored", (string?)outcome["result"]);
        Assert.Empty(host.Calls);
    }

    [Fact]
    public async Task Concurrent_triggers_share_passes_and_each_is_answered_by_a_pass_that_started_after_it_arrived()
    {
        const int Triggers = 8;
        using var host = StartWarmer();
        StubCluster(host, [ClusterNode("node-a")], [], [], owner: null);
        var firstListStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var releaseFirstList = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var nodeLists = 0;
        var nodeList = List("v1", "NodeList", ClusterNode("node-a")).ToJsonString();
        host.Api.Given(Request.Create().WithPath(ApiPaths.NodesPath).UsingGet()).AtPriority(1).RespondWith(Response.Create().WithCallback(async _ =>
        {
            if (Interlocked.Increment(ref nodeLists) == 1)
            {
                firstListStarted.SetResult();
                await releaseFirstList.Task.WaitAsync(TimeSpan.FromSeconds(20));
            }

            return (IResponseMessage)new ResponseMessage
            {
                StatusCode = 200,
                Headers = new Dictionary<string, WireMockList<string>> { ["Content-Type"] = new("application/json") },
                BodyData = new BodyData { BodyAsString = nodeList, DetectedBodyType = BodyType.String },
            };
        }));

        // The first trigger's pass is inside its node LIST; the others arrive while it runs.
        var first = SendPingAsync(host);
        await firstListStarted.Task.WaitAsync(TimeSpan.FromSeconds(20));
        var sent = Enumerable.Range(0, Triggers - 1).Select(_ => new SignalledContent()).ToList();
        var later = sent.Select(content => host.Client.PostAsync("/", content)).ToList();
        await Task.WhenAll(sent.Select(c => c.Sent.Task)).WaitAsync(TimeSpan.FromSeconds(20));
        releaseFirstList.SetResult();

        var firstPass = await PassAsync(await first);
        var laterPasses = new List<JsonObject>();
        foreach (var response in later)
        {
            laterPasses.Add(await PassAsync(await response));
        }

        // The first pass started before the others arrived, so it cannot answer them: at least one more pass ran, and
        // far fewer than one per trigger.
        Assert.False((bool?)firstPass["joined"]);
        Assert.InRange(nodeLists, 2, Triggers - 1);
        Assert.Equal(nodeLists, host.Lines.Count(l => l == NodesList));
        Assert.Equal(nodeLists - 1, laterPasses.Count(p => (bool?)p["joined"] == false));
        Assert.All(laterPasses, p => Assert.Equal("completed", (string?)p["result"]));
    }

    /// <summary>A ping CloudEvent (binary) whose body signals once the client has handed it to the app.</summary>
    private sealed class SignalledContent : HttpContent
    {
        private readonly byte[] _body = Encoding.UTF8.GetBytes("{}");

        public SignalledContent()
        {
            Headers.ContentType = new("application/json");
            Headers.TryAddWithoutValidation("ce-specversion", "1.0");
            Headers.TryAddWithoutValidation("ce-id", Guid.NewGuid().ToString());
            Headers.TryAddWithoutValidation("ce-source", "/apis/v1/namespaces/cachier/pingsources/cachier-warm");
            Headers.TryAddWithoutValidation("ce-type", "dev.knative.sources.ping");
        }

        public TaskCompletionSource Sent { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            await stream.WriteAsync(_body);
            Sent.TrySetResult();
        }

        protected override bool TryComputeLength(out long length)
        {
            length = _body.Length;
            return true;
        }
    }
}
