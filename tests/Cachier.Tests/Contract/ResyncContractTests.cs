using System.Net;
using System.Text.Json.Nodes;
using static Cachier.Tests.Support.AppHost;
using static Cachier.Tests.Support.CloudEvents;
using static Cachier.Tests.Support.Objects;

namespace Cachier.Tests.Contract;

/// <summary>
/// SPEC section 7: a paginated cluster-wide LIST per kind and one of labelled Images, every workload reconciled
/// against its indexed Images (no per-workload LIST or GET), writes only where there is drift.
/// </summary>
public sealed class ResyncContractTests
{
    private const string UidA = "aaaaaaaa-0000-4000-8000-000000000001";
    private const string UidB = "bbbbbbbb-0000-4000-8000-000000000002";
    private const string UidC = "cccccccc-0000-4000-8000-000000000003";
    private const string UidOrphan = "dddddddd-0000-4000-8000-000000000004";

    // Continue tokens are opaque base64 to a client: '=' and '/' must be percent-encoded in the query.
    private const string ImageToken = "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6OTAwfQ==";
    private const string DeploymentToken = "eyJydiI6OTAwLCJzdGFydCI6ImRlbW8vZGVwLWIifQ/+";

    private const string ImagesCollection = "/apis/caching.internal.knative.dev/v1alpha1/images";
    private const string Deployments = "/apis/apps/v1/deployments";
    private const string CronJobs = "/apis/batch/v1/cronjobs";

    private static readonly (string, string)[] Settings =
    [
        ("Resources", "Deployment.v1.apps,CronJob.v1.batch"),
        ("ResyncPageSize", "2"),
    ];

    private static readonly JsonObject DepA = Deployment("dep-a", UidA, 1, ["nginx:1.25"]);
    private static readonly JsonObject DepB = Deployment("dep-b", UidB, 4, ["redis:7"]);
    private static readonly JsonObject DepC = Workload("apps/v1", "Deployment", "dep-c", UidC, 2, ["busybox:1.36"], serviceAccount: "sa-c", ns: "other");
    private static readonly JsonObject DepCBefore = Workload("apps/v1", "Deployment", "dep-c", UidC, 2, ["busybox:1.36"], ns: "other");

    private static readonly JsonObject ImgA = OurImage(DepA, "nginx:1.25", "img-a", "201");
    private static readonly JsonObject ImgASurplus = OurImage(DepA, "old:1", "img-a-old", "202");
    private static readonly JsonObject ImgC = OurImage(DepCBefore, "busybox:1.36", "img-c", "203");
    private static readonly JsonObject ImgOrphan = Image("gone-1234567890", "img-o", "204", "x:1", OurLabels(UidOrphan, 1),
        ControllerRef("apps/v1", "Deployment", "gone", UidOrphan));

    /// <summary>
    /// Images: page 1 {A, C} + token, page 2 {A's surplus, an orphan}. Deployments (items untyped, as a LIST of a
    /// built-in kind serves them): page 1 {A (in sync but for the surplus), B (no Image)} + token, page 2 {C (service
    /// account drifted)}. CronJob.v1.batch is not served (404).
    /// </summary>
    private static void StubCluster(AppHost host)
    {
        host.Stub("GET", ImagesCollection, 200, ImageList(ImageToken, [ImgA, ImgC]),
            query: [("limit", "2"), ("labelSelector", "controller")], absent: ["continue"]);
        host.Stub("GET", ImagesCollection, 200, ImageList(null, [ImgASurplus, ImgOrphan]),
            query: [("limit", "2"), ("labelSelector", "controller"), ("continue", ImageToken)], priority: 1);
        host.Stub("GET", Deployments, 200, WorkloadList(DeploymentToken, Untyped(DepA), Untyped(DepB)), query: [("limit", "2")], absent: ["continue"]);
        host.Stub("GET", Deployments, 200, WorkloadList(null, Untyped(DepC)), query: [("limit", "2"), ("continue", DeploymentToken)], priority: 1);
        host.Stub("GET", CronJobs, 404, Status(404));
        host.StubDelete(Ns, ExpectedNames.Image("dep-a", UidA, "old:1"));
        host.StubCreate(Ns);
        host.StubPatch("other", ExpectedNames.Image("dep-c", UidC, "busybox:1.36"));
    }

    private static string[] ExpectedLists =>
    [
        $"GET {ImagesCollection}?labelSelector=controller&limit=2",
        $"GET {ImagesCollection}?continue={Uri.EscapeDataString(ImageToken)}&labelSelector=controller&limit=2",
        $"GET {Deployments}?limit=2",
        $"GET {Deployments}?continue={Uri.EscapeDataString(DeploymentToken)}&limit=2",
        $"GET {CronJobs}?limit=2",
    ];

    [Fact]
    public async Task Resync_follows_every_continue_token_and_repairs_only_the_drift()
    {
        using var host = Start(Settings);
        StubCluster(host);

        var response = await host.Client.PostAsync("/resync", null);

        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        AssertRepairedTheDrift(host);
        AssertSummary(JsonNode.Parse(text)!.AsObject());
    }

    [Fact]
    public async Task Resync_leaves_the_excluded_namespaces_out_of_its_lists_on_the_api_servers_side()
    {
        using var host = Start(("Resources", "Deployment.v1.apps"), ("ResyncPageSize", "2"),
            ("ExcludedNamespaces:0", "kube-system"), ("ExcludedNamespaces:1", "bench-raw"));
        const string selector = "metadata.namespace!=bench-raw,metadata.namespace!=kube-system";
        host.Stub("GET", ImagesCollection, 200, ImageList(null, []), query: [("limit", "2"), ("labelSelector", "controller"), ("fieldSelector", selector)]);
        host.Stub("GET", Deployments, 200, WorkloadList(null), query: [("limit", "2"), ("fieldSelector", selector)]);

        var response = await host.Client.PostAsync("/resync", null);

        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        Assert.Equal("completed", (string?)JsonNode.Parse(text)!["result"]);
        var field = Uri.EscapeDataString(selector);
        Assert.Equal([$"GET {ImagesCollection}?limit=2&labelSelector=controller&fieldSelector={field}", $"GET {Deployments}?limit=2&fieldSelector={field}"], host.Lines);
    }

    [Fact]
    public async Task Ping_event_runs_the_same_resync()
    {
        using var host = Start(Settings);
        StubCluster(host);
        var ping = new JsonObject
        {
            ["specversion"] = "1.0",
            ["id"] = Guid.NewGuid().ToString(),
            ["source"] = "/apis/v1/namespaces/cachier/pingsources/cachier-resync",
            ["type"] = "dev.knative.sources.ping",
            ["datacontenttype"] = "application/json",
            ["data"] = new JsonObject { ["resync"] = true },
        };

        var response = await host.SendStructuredAsync(ping.ToJsonString());

        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        AssertRepairedTheDrift(host);
        var handled = JsonNode.Parse(text)!.AsObject();
        Assert.Equal("dev.knative.sources.ping", (string?)handled["type"]);
        AssertSummary(handled["resync"]!.AsObject());
    }

    [Fact]
    public async Task Ping_event_in_binary_mode_without_data_runs_the_resync()
    {
        using var host = Start(Settings);
        StubCluster(host);

        var response = await host.SendBinaryAsync("dev.knative.sources.ping", null, overrides: new Dictionary<string, string>
        {
            ["ce-source"] = "/apis/v1/namespaces/cachier/pingsources/cachier-resync",
        });

        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        AssertSummary(JsonNode.Parse(text)!["resync"]!.AsObject());
    }

    [Fact]
    public async Task Resync_repairs_drift_even_for_a_workload_the_memo_remembers()
    {
        using var host = Start(("Resources", "Deployment.v1.apps"), ("ResyncPageSize", "2"));
        // An event reconciled dep-a: its Image exists and the memo remembers the plan.
        host.StubListImages(Ns, ImgA);
        await OutcomeAsync(await host.SendResourceAsync("update", DepA));
        host.Api.ResetLogEntries();
        host.Api.ResetMappings();

        // Then its Image was deleted behind Cachier's back: the resync must not trust the memo.
        host.Stub("GET", ImagesCollection, 200, ImageList(null, []), query: [("limit", "2"), ("labelSelector", "controller")]);
        host.Stub("GET", Deployments, 200, WorkloadList(null, Untyped(DepA)), query: [("limit", "2")]);
        host.StubCreate(Ns);
        var response = await host.Client.PostAsync("/resync", null);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        AssertCreates(Assert.Single(host.Writes), DepA, "nginx:1.25");
    }

    [Fact]
    public async Task Resync_reports_partial_and_names_the_workload_when_one_repair_fails()
    {
        using var host = Start(("Resources", "Deployment.v1.apps"), ("ResyncPageSize", "2"));
        host.Stub("GET", ImagesCollection, 200, ImageList(null, [ImgA]), query: [("limit", "2"), ("labelSelector", "controller")]);
        host.Stub("GET", Deployments, 200, WorkloadList(null, Untyped(DepA), Untyped(DepB)), query: [("limit", "2")]);
        host.StubCreate(Ns, 503);

        var response = await host.Client.PostAsync("/resync", null);

        var summary = JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject();
        Assert.Equal("partial", (string?)summary["result"]);
        Assert.Equal(2, (int?)summary["workloads"]);
        Assert.Equal(1, (int?)summary["failed"]);
        Assert.Contains(summary["failures"]!.AsArray(), f => ((string?)f)!.Contains("dep-b", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Ping_event_answers_503_with_retry_after_when_the_image_list_fails()
    {
        using var host = Start(Settings);
        host.Stub("GET", ImagesCollection, 503, Status(503));

        var response = await host.SendBinaryAsync("dev.knative.sources.ping", null);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.True(response.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1), "a 503 must carry Retry-After");
        Assert.Equal("transient", (string?)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["resync"]!["result"]);
        Assert.Empty(host.Writes);
    }

    [Fact]
    public async Task Resync_answers_503_with_retry_after_when_the_image_list_fails()
    {
        using var host = Start(Settings);
        host.Stub("GET", ImagesCollection, 503, Status(503));

        var response = await host.Client.PostAsync("/resync", null);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("transient", (string?)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["result"]);
        Assert.True(response.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1), "a 503 must carry Retry-After, as the ping event's does");
        Assert.Empty(host.Writes);
    }

    [Fact]
    public async Task Ping_event_answers_500_when_rbac_forbids_listing_images()
    {
        using var host = Start(Settings);
        host.Stub("GET", ImagesCollection, 403, Status(403));

        var response = await host.SendBinaryAsync("dev.knative.sources.ping", null);

        // A permanent API error is a 500 (SPEC section 6): a retry of a 403 cannot succeed.
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.InternalServerError, $"got {(int)response.StatusCode}: {text}");
        Assert.Empty(host.Writes);
    }

    private static void AssertRepairedTheDrift(AppHost host)
    {
        var calls = host.Calls;
        var reads = calls.Where(c => c.Method == "GET").Select(Canonical).ToList();
        Assert.Equal(ExpectedLists.Order(StringComparer.Ordinal), reads.Order(StringComparer.Ordinal));

        // Each LIST followed its token page by page, and the Image index was complete before any write.
        var lines = calls.Select(Canonical).ToList();
        Assert.True(lines.IndexOf(ExpectedLists[0]) < lines.IndexOf(ExpectedLists[1]), "Image pages out of order");
        Assert.True(lines.IndexOf(ExpectedLists[2]) < lines.IndexOf(ExpectedLists[3]), "Deployment pages out of order");
        var firstWrite = calls.ToList().FindIndex(c => c.Method != "GET");
        Assert.True(firstWrite > lines.IndexOf(ExpectedLists[1]), "a write came before the Image index was complete");

        var writes = host.Writes;
        Assert.Equal(3, writes.Count);
        AssertDeletes(Assert.Single(writes, c => c.Method == "DELETE"), ExpectedNames.Image("dep-a", UidA, "old:1"), "img-a-old", "202");
        AssertCreates(Assert.Single(writes, c => c.Method == "POST"), DepB, "redis:7");
        var patch = AssertPatches(Assert.Single(writes, c => c.Method == "PATCH"), ExpectedNames.Image("dep-c", UidC, "busybox:1.36"), "203", UidC, 2, "other");
        AssertPullSpec(patch["spec"]!.AsObject(), "sa-c", null, omitWhenEmpty: false);
    }

    private static void AssertSummary(JsonObject summary)
    {
        Assert.Equal("completed", (string?)summary["result"]);
        Assert.Equal(3, (int?)summary["workloads"]);
        Assert.Equal(4, (int?)summary["images"]);
        Assert.Equal(1, (int?)summary["created"]);
        Assert.Equal(1, (int?)summary["updated"]);
        Assert.Equal(1, (int?)summary["deleted"]);
        Assert.Equal(0, (int?)summary["failed"]);
        var skipped = Assert.Single(summary["skippedKinds"]!.AsArray());
        Assert.StartsWith("CronJob.v1.batch", (string?)skipped);
    }

    /// <summary><c>VERB /path?a&amp;b</c> with the query parameters (still percent-encoded) in a fixed order.</summary>
    private static string Canonical(ApiCall call) =>
        call.Query.Length == 0
            ? $"{call.Method} {call.Path}"
            : $"{call.Method} {call.Path}?{string.Join('&', call.Query.TrimStart('?').Split('&').Order(StringComparer.Ordinal))}";

    private static JsonObject Untyped(JsonObject workload)
    {
        var item = workload.DeepClone().AsObject();
        item.Remove("apiVersion");
        item.Remove("kind");
        return item;
    }

    internal static JsonObject WorkloadList(string? continueToken, params JsonObject[] items)
    {
        var list = ImageList(continueToken, items);
        list["apiVersion"] = "apps/v1";
        list["kind"] = "DeploymentList";
        return list;
    }
}
