using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Cachier.Tests.Integration;
using Cachier.Tests.Support;

namespace Cachier.Tests.Source;

/// <summary>
/// <c>cachier-lab source</c> against the real local kube-apiserver: the events it makes of real changes have the shape
/// of the adapter's samples, they drive the real function end to end, and they carry the sender's token.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class SourceClusterTests(ClusterFixture cluster)
{
    private Kubectl Kubectl => cluster.Admin;

    [Theory]
    [InlineData("Reference", "03-ref-update")]
    [InlineData("Resource", "02-resource-update")]
    public async Task Events_of_a_real_Deployment_have_the_shape_of_the_adapter_sample(string mode, string sample)
    {
        var expected = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "testassets", "samples", $"{sample}.structured.json")))!.AsObject();
        var ns = await cluster.NamespaceAsync();
        using var sink = new RecordingSink();
        await using (var standIn = new StandIn("--kubeconfig", Kubectl.Kubeconfig, "--sink", sink.Url, "--mode", mode,
            "--namespace", ns, "--source-namespace", "sources", "--resource", "apps/v1/deployments"))
        {
            await standIn.WatchingAsync();
            await Kubectl.ApplyAsync(Workloads.Deployment(ns, "web", ["nginx:1.25"], replicas: 0));
            await sink.WaitForAsync(r => r.Any(e => e["Ce-Type"]!.EndsWith(".add", StringComparison.Ordinal)), "the add event");
            await Kubectl.ApplyAsync(Workloads.Deployment(ns, "web", ["nginx:1.27"], replicas: 0));
            await sink.WaitForAsync(r => r.Any(e => e["Ce-Type"]!.EndsWith(".update", StringComparison.Ordinal) && Generation(e, mode) is null or 2), "the update event");
            await Kubectl.RunAsync($"delete deployment web -n {ns}");
            await sink.WaitForAsync(r => r.Any(e => e["Ce-Type"]!.EndsWith(".delete", StringComparison.Ordinal)), "the delete event");
        }

        var prefix = mode == "Reference" ? "dev.knative.apiserver.ref" : "dev.knative.apiserver.resource";
        // One object's events in order: its add, its updates (spec and status), its delete.
        var types = sink.Requests.Select(r => r["Ce-Type"]).ToList();
        Assert.Equal($"{prefix}.add", types[0]);
        Assert.Equal($"{prefix}.delete", types[^1]);
        Assert.All(types[1..^1], t => Assert.Equal($"{prefix}.update", t));

        var sampleHeaders = expected.Select(p => p.Key).Where(k => k is not ("data" or "datacontenttype"))
            .Select(k => "Ce-" + char.ToUpperInvariant(k[0]) + k[1..]).Order().ToList();
        foreach (var e in sink.Requests)
        {
            Assert.Equal(sampleHeaders, e.Headers.Keys.Where(k => k.StartsWith("Ce-", StringComparison.OrdinalIgnoreCase)).Order(StringComparer.OrdinalIgnoreCase),
                StringComparer.OrdinalIgnoreCase);
            Assert.Equal(("1.0", cluster.Server, $"/apis/apps/v1/namespaces/{ns}/deployments/web"), (e["Ce-Specversion"], e["Ce-Source"], e["Ce-Subject"]));
            Assert.Equal(("apps/v1", "Deployment", "web", ns), (e["Ce-Apiversion"], e["Ce-Kind"], e["Ce-Name"], e["Ce-Namespace"]));
            Assert.True(Guid.TryParse(e["Ce-Id"], out _), e["Ce-Id"]);
            Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$", e["Ce-Time"]);
            Assert.Equal("application/json", e["Content-Type"]);
            Assert.Equal("sources", e["Kn-Namespace"]);
        }

        Assert.Equal(sink.Requests.Count, sink.Requests.Select(r => r["Ce-Id"]).Distinct().Count());
        var update = sink.Requests.First(r => r["Ce-Type"] == $"{prefix}.update");
        if (mode == "Reference")
        {
            // The same bytes as the sample's data, names aside: corev1.ObjectReference in struct order.
            var data = expected["data"]!.ToJsonString().Replace("\"demo\"", $"\"{ns}\"", StringComparison.Ordinal).Replace("\"dummy\"", "\"web\"", StringComparison.Ordinal);
            Assert.All(sink.Requests, r => Assert.Equal(data, r.Body));
        }
        else
        {
            var data = JsonNode.Parse(update.Body)!.AsObject();
            Assert.Equal(expected["data"]!.AsObject().Select(p => p.Key), data.Select(p => p.Key));
            Assert.Equal(("web", ns), ((string?)data["metadata"]!["name"], (string?)data["metadata"]!["namespace"]));
            Assert.NotNull(data["metadata"]!["managedFields"]);
            AssertSortedKeys(data);
            Assert.All(sink.Requests, r => AssertSortedKeys(JsonNode.Parse(r.Body)!));
        }
    }

    [Fact]
    public async Task The_stand_in_drives_the_real_function_from_create_to_update_to_delete_with_no_hand_sent_event()
    {
        var ns = await cluster.NamespaceAsync();
        // Over HTTP on a dynamic loopback port, as Knative would reach it.
        using var app = cluster.App(new AppOptions { OnLoopbackPort = true });
        await using var standIn = new StandIn("--kubeconfig", Kubectl.Kubeconfig, "--sink", app.Url!,
            "--mode", "Reference", "--namespace", ns, "--resource", "Deployment.v1.apps");
        await standIn.WatchingAsync();

        await Kubectl.ApplyAsync(Workloads.Deployment(ns, "web", ["nginx:1.25", "redis:7"], replicas: 0));
        var uid = (string)(await Kubectl.GetAsync("deployment/web", ns))["metadata"]!["uid"]!;
        await ImagesBecomeAsync(standIn, ns, uid, "nginx:1.25", "redis:7");

        await Kubectl.ApplyAsync(Workloads.Deployment(ns, "web", ["nginx:1.27", "redis:7"], replicas: 0));
        await ImagesBecomeAsync(standIn, ns, uid, "nginx:1.27", "redis:7");

        await Kubectl.RunAsync($"delete deployment web -n {ns}");
        await standIn.WaitForAsync(l => l.Contains($"delivered dev.knative.apiserver.ref.delete Deployment {ns}/web -> 200", StringComparison.Ordinal), "the delete event");
        // The function writes nothing for a delete; the garbage collector removes the Images through their owner.
        await ImagesBecomeAsync(standIn, ns, uid);
        Assert.DoesNotContain(standIn.Log.Lines, l => l.Contains("dropped", StringComparison.Ordinal));
    }

    [Fact]
    public async Task With_an_audience_every_delivery_carries_a_ServiceAccount_token_for_that_audience()
    {
        var ns = await cluster.NamespaceAsync();
        using var sink = new RecordingSink();
        await using (var standIn = new StandIn("--kubeconfig", Kubectl.Kubeconfig, "--sink", sink.Url, "--namespace", ns,
            "--resource", "apps/v1/deployments", "--ping-now", "--audience", "cachier.test/events", "--service-account", "cachier-system/cachier"))
        {
            await standIn.WatchingAsync();
            await Kubectl.ApplyAsync(Workloads.Deployment(ns, "web", ["nginx:1.25"], replicas: 0));
            await sink.WaitForAsync(r => r.Any(e => e["Ce-Type"] == "dev.knative.apiserver.ref.add")
                && r.Any(e => e["Ce-Type"] == "dev.knative.sources.ping"), "the add event and the ping");
        }

        var tokens = sink.Requests.Select(r => r["Authorization"]).Distinct().ToList();
        var token = Assert.Single(tokens)!;
        Assert.StartsWith("Bearer ", token, StringComparison.Ordinal);
        var parts = token["Bearer ".Length..].Split('.');
        Assert.Equal(3, parts.Length);
        var claims = JsonNode.Parse(Base64Url(parts[1]))!.AsObject();
        var audiences = claims["aud"] is JsonArray array ? array.Select(a => (string?)a).ToList() : [(string?)claims["aud"]];
        Assert.Equal(["cachier.test/events"], audiences);
        Assert.Equal(ClusterFixture.CachierUser, (string?)claims["sub"]);
        var lifetime = (long)claims["exp"]! - (long)claims["iat"]!;
        Assert.Equal(3600, lifetime);
    }

    private async Task ImagesBecomeAsync(StandIn standIn, string ns, string uid, params string[] images)
    {
        var expected = images.Select(i => ExpectedNames.Image("web", uid, i)).Order().ToList();
        await Poll.TrueAsync(async () => (await ImageNamesAsync(ns)).SequenceEqual(expected), TimeSpan.FromSeconds(90),
            async () => $"Images in {ns} are [{string.Join(", ", await ImageNamesAsync(ns))}], expected [{string.Join(", ", expected)}]; the stand-in said:\n{standIn.Log}");
    }

    private async Task<List<string>> ImageNamesAsync(string ns) =>
        (await Kubectl.ImagesAsync(ns)).Select(i => (string)i["metadata"]!["name"]!).Order().ToList();

    private static long? Generation(SinkRequest e, string mode) =>
        mode == "Resource" ? (long?)JsonNode.Parse(e.Body)!["metadata"]!["generation"] : null;

    private static void AssertSortedKeys(JsonNode node)
    {
        switch (node)
        {
            case JsonObject obj:
                var keys = obj.Select(p => p.Key).ToList();
                Assert.Equal(keys.Order(StringComparer.Ordinal), keys);
                foreach (var (_, value) in obj)
                {
                    if (value is not null)
                    {
                        AssertSortedKeys(value);
                    }
                }

                break;
            case JsonArray array:
                foreach (var item in array)
                {
                    if (item is not null)
                    {
                        AssertSortedKeys(item);
                    }
                }

                break;
        }
    }

    private static string Base64Url(string text)
    {
        var padded = text.Replace('-', '+').Replace('_', '/');
        padded += new string('=', (4 - (padded.Length % 4)) % 4);
        return Encoding.UTF8.GetString(Convert.FromBase64String(padded));
    }
}
