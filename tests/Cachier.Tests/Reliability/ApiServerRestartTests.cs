using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using Cachier.Tests.Integration;
using Xunit.Abstractions;

namespace Cachier.Tests.Reliability;

/// <summary>
/// The cluster tests that stop the API server. Not the shared cluster collection: that one runs in parallel with the
/// other collections, and the deployment tests (their own collection) and any test that reaches the API server would
/// fail during the 20-40 s outage. A collection with parallelization disabled runs alone, after all the others.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ApiServerOutageCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "cluster: API server outage (runs alone)";
}

/// <summary>
/// Issue 8 on the real kube-apiserver: stop it (scripts/local-cluster.sh stop-apiserver) while events arrive, start it
/// again, redeliver as a sender would and resync; the result is exactly the expected Images, none missing, none twice.
/// </summary>
[Collection(ApiServerOutageCollection.Name)]
public sealed class ApiServerRestartTests(ClusterFixture cluster, ITestOutputHelper output)
{
    private Kubectl Kubectl => cluster.Admin;

    [Fact]
    public async Task Events_sent_while_the_api_server_is_down_converge_to_exactly_the_expected_images_once_it_is_back()
    {
        var ns = await cluster.NamespaceAsync();
        var desired = new Dictionary<string, string[]>
        {
            ["web"] = ["nginx:1.27", "redis:7"],
            ["api"] = ["busybox:1.36", "alpine:3.20"],
            ["db"] = ["postgres:16"],
            // Its event is lost for good: only the resync can create its Images.
            ["lost"] = ["memcached:1.6", "nginx:1.27"],
        };
        await Kubectl.ApplyAsync(Workloads.Deployment(ns, "web", ["nginx:1.25", "redis:7"]));
        await Kubectl.ApplyAsync(Workloads.Deployment(ns, "api", ["busybox:1.36", "busybox:1.36"], init: ["alpine:3.20"]));
        await Kubectl.ApplyAsync(Workloads.Deployment(ns, "db", ["postgres:16"]));
        await Kubectl.ApplyAsync(Workloads.Deployment(ns, "lost", ["memcached:1.6", "nginx:1.27"]));
        using var app = cluster.App(("ApiRetries", "2"));
        var client = app.CreateClient();

        // Before the outage: web has its Images; then its image changes, and that event arrives during the outage.
        Assert.Equal(HttpStatusCode.OK, (await CloudEvents.DeliverOnceAsync(client, "add", ns, "web")).Status);
        await Kubectl.ApplyAsync(Workloads.Deployment(ns, "web", ["nginx:1.27", "redis:7"]));
        var uids = new Dictionary<string, string>();
        foreach (var name in desired.Keys)
        {
            uids[name] = (string)(await Kubectl.GetAsync($"deployment/{name}", ns))["metadata"]!["uid"]!;
        }

        await LocalCluster.StopApiServerAsync(output);
        try
        {
            foreach (var name in desired.Keys)
            {
                var clock = Stopwatch.StartNew();
                var (status, retryAfter, body) = await CloudEvents.DeliverOnceAsync(client, name == "web" ? "update" : "add", ns, name);
                Assert.True(status == HttpStatusCode.ServiceUnavailable, $"{name} while the API server is down: {(int)status} {body}");
                Assert.True(retryAfter >= 1, $"{name}: a 503 must carry Retry-After");
                Assert.Equal("transient", (string?)body["outcome"]?["result"]);
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1.5), $"{name}: 503 after {clock.ElapsedMilliseconds} ms");
            }
        }
        finally
        {
            await LocalCluster.StartApiServerAsync(output);
        }

        // Redelivery (as a Broker would: honouring Retry-After, bounded), twice: the second finds nothing to do.
        foreach (var name in new[] { "web", "api", "db" })
        {
            var body = await CloudEvents.DeliverAsync(client, name == "web" ? "update" : "add", ns, name);
            Assert.Equal("reconciled", (string?)body["outcome"]!["result"]);
        }

        foreach (var name in new[] { "web", "api", "db" })
        {
            var body = await CloudEvents.DeliverAsync(client, "update", ns, name);
            Assert.Equal((0, 0), ((int)body["outcome"]!["created"]!, (int)body["outcome"]!["deleted"]!));
        }

        // The resync repairs the lost event. Every other namespace is excluded, so it writes nowhere but here.
        var others = (await Kubectl.RunAsync("get namespaces -o name")).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(n => n.Trim()["namespace/".Length..]).Where(n => n != ns).ToList();
        using var resyncer = cluster.App([("Resources", "Deployment.v1.apps"),
            .. others.Select((n, i) => ($"ExcludedNamespaces:{i}", n))]);
        using var resync = await resyncer.CreateClient().PostAsync("/resync", null);
        var summary = await resync.Content.ReadAsStringAsync();
        Assert.True(resync.StatusCode == HttpStatusCode.OK, summary);
        Assert.Equal("completed", (string?)JsonNode.Parse(summary)!["result"]);

        var images = await Kubectl.ImagesAsync(ns);
        var expected = desired.SelectMany(w => w.Value.Select(i => ExpectedNames.Image(w.Key, uids[w.Key], i))).Order().ToList();
        var actual = images.Select(i => (string)i["metadata"]!["name"]!).Order().ToList();
        Assert.Equal(expected, actual);
        // One Image per (workload, image): no duplicate under another name.
        Assert.Equal(images.Count, images.Select(i => ((string)i["metadata"]!["labels"]!["controller"]!, (string)i["spec"]!["image"]!)).Distinct().Count());
        foreach (var image in images)
        {
            var owner = Assert.Single(image["metadata"]!["ownerReferences"]!.AsArray())!;
            Assert.Equal((string)image["metadata"]!["labels"]!["controller"]!, (string)owner["uid"]!);
        }
    }
}

/// <summary>scripts/local-cluster.sh stop-apiserver / start-apiserver, bounded in time.</summary>
internal static class LocalCluster
{
    public static Task StopApiServerAsync(ITestOutputHelper output) => RunAsync("stop-apiserver", output);

    public static Task StartApiServerAsync(ITestOutputHelper output) => RunAsync("start-apiserver", output);

    private static async Task RunAsync(string command, ITestOutputHelper output)
    {
        var script = Path.Combine(Repository.Root, "scripts", "local-cluster.sh");
        var start = new ProcessStartInfo("bash", [script, command])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // The cluster whose kubeconfig the tests use.
        if (Path.GetDirectoryName(Environment.GetEnvironmentVariable("CACHIER_TEST_KUBECONFIG")) is { Length: > 0 } dir)
        {
            start.Environment["CACHIER_CLUSTER_DIR"] = dir;
        }

        var clock = Stopwatch.StartNew();
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(3));
        output.WriteLine($"local-cluster.sh {command}: exit {process.ExitCode} after {clock.Elapsed.TotalSeconds:0.0} s\n{await stderr}{await stdout}");
        Assert.True(process.ExitCode == 0, $"local-cluster.sh {command} failed: {await stderr}");
    }
}
