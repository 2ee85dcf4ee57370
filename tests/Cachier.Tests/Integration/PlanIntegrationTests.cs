using System.Text.Json.Nodes;
using Cachier.Plan;

namespace Cachier.Tests.Integration;

/// <summary>
/// Issue 15 part 3 on the real API server: <c>cachier plan</c> lists what a resync would write, per workload, as a table
/// and as JSON, and (the API server's audit log says so) sends nothing but get and list, as an identity that may do
/// nothing else.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class PlanIntegrationTests(ClusterFixture cluster)
{
    private const string Images = "images.caching.internal.knative.dev";

    private Kubectl Kubectl => cluster.Admin;

    [Fact]
    public async Task Plan_lists_the_images_to_create_update_and_delete_and_sends_only_get_and_list()
    {
        var ns = await cluster.NamespaceAsync();
        // A read-only identity of its own, so that its lines in the audit log are the plan's alone.
        var planner = await ReadOnlyKubeconfigAsync(ns);
        foreach (var (name, image) in new[] { ("missing", "nginx:1.25"), ("stale", "nginx:1.25"), ("drifted", "nginx:1.25"), ("current", "nginx:1.25") })
        {
            await Kubectl.ApplyAsync(Workloads.Deployment(ns, name, [image, "redis:7"]));
        }

        var uid = new Dictionary<string, string>();
        using (var app = cluster.App())
        {
            foreach (var name in new[] { "missing", "stale", "drifted", "current" })
            {
                uid[name] = (string)(await Kubectl.GetAsync($"deployment/{name}", ns))["metadata"]!["uid"]!;
                if (name != "missing")
                {
                    await CloudEvents.SendRefAsync(app.CreateClient(), "add", "apps/v1", "Deployment", ns, name);
                }
            }
        }

        // stale: its pod spec moved on to nginx:1.27 and no event came; drifted: its nginx Image was edited by hand.
        await Kubectl.ApplyAsync(Workloads.Deployment(ns, "stale", ["nginx:1.27", "redis:7"]));
        var edited = ExpectedNames.Image("drifted", uid["drifted"], "nginx:1.25");
        await Kubectl.RunAsync(["patch", Images, edited, "-n", ns, "--type=merge", "-p", """{"spec":{"image":"busybox:1"}}"""]);
        var before = await ImagesByNameAsync(ns);
        var auditFrom = File.Exists(AuditLog) ? new FileInfo(AuditLog).Length : 0;

        var (jsonCode, json) = await PlanAsync(planner, "-o", "json");
        var (tableCode, table) = await PlanAsync(planner);

        Assert.Equal((0, 0), (jsonCode, tableCode));
        var changes = JsonNode.Parse(json)!["changes"]!.AsArray().Where(c => (string?)c!["namespace"] == ns)
            .ToDictionary(c => (string)c!["name"]!, c => c!.AsObject());
        Assert.Equal(["drifted", "missing", "stale"], changes.Keys.Order());
        Assert.Equal(Rows(("nginx:1.25", ExpectedNames.Image("missing", uid["missing"], "nginx:1.25"), null),
                ("redis:7", ExpectedNames.Image("missing", uid["missing"], "redis:7"), null)),
            Rows(changes["missing"]["create"]));
        Assert.Equal(Rows(("nginx:1.27", ExpectedNames.Image("stale", uid["stale"], "nginx:1.27"), null)), Rows(changes["stale"]["create"]));
        Assert.Equal(Rows(("nginx:1.25", ExpectedNames.Image("stale", uid["stale"], "nginx:1.25"), null)), Rows(changes["stale"]["delete"]));
        Assert.Equal(Rows(("nginx:1.25", edited, "image busybox:1")), Rows(changes["drifted"]["update"]));
        Assert.Empty(changes["missing"]["update"]!.AsArray());
        Assert.Empty(changes["drifted"]["create"]!.AsArray().Concat(changes["drifted"]["delete"]!.AsArray()));

        Assert.Matches($@"Deployment {ns}/missing +create +nginx:1\.25 +{ExpectedNames.Image("missing", uid["missing"], "nginx:1.25")}\n", table);
        Assert.Matches($@"Deployment {ns}/stale +delete +nginx:1\.25 +{ExpectedNames.Image("stale", uid["stale"], "nginx:1.25")}\n", table);
        Assert.Matches($@"Deployment {ns}/drifted +update +nginx:1\.25 +{edited} +image busybox:1\n", table);
        Assert.DoesNotContain($"{ns}/current", table, StringComparison.Ordinal);
        Assert.Contains("Nothing was written.", table, StringComparison.Ordinal);

        // Nothing written: the Images are as they were, and the audit log holds only reads by the plan's identity.
        Assert.Equal(before, await ImagesByNameAsync(ns));
        var verbs = await PlannerVerbsAsync(ns, auditFrom);
        Assert.Contains("list", verbs);
        Assert.True(verbs.All(v => v is "get" or "list"), $"the plan sent: {string.Join(", ", verbs.Distinct())}");
    }

    private static string AuditLog =>
        Path.Combine(Path.GetDirectoryName(Environment.GetEnvironmentVariable("CACHIER_TEST_KUBECONFIG"))!, "logs", "audit.log");

    private static async Task<(int Code, string Output)> PlanAsync(string kubeconfig, params string[] more)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await PlanCommand.RunAsync([$"--kubeconfig={kubeconfig}", "--resource=Deployment.v1.apps", .. more], output, error);
        Assert.True(error.ToString().Length == 0, error.ToString());
        return (code, output.ToString());
    }

    private static List<string> Rows(params (string Image, string Name, string? Was)[] rows) =>
        rows.Select(r => $"{r.Image} {r.Name} {r.Was}").Order().ToList();

    private static List<string> Rows(JsonNode? images) =>
        images!.AsArray().Select(i => $"{(string)i!["image"]!} {(string)i["name"]!} {(string?)i["was"]}").Order().ToList();

    private async Task<Dictionary<string, string>> ImagesByNameAsync(string ns) =>
        (await Kubectl.ImagesAsync(ns)).ToDictionary(i => (string)i["metadata"]!["name"]!, i => (string)i["metadata"]!["resourceVersion"]!);

    /// <summary>A ServiceAccount with get and list on Deployments and Images (all the plan needs), as a kubeconfig.</summary>
    private async Task<string> ReadOnlyKubeconfigAsync(string ns)
    {
        await Kubectl.RunAsync($"create serviceaccount planner -n {ns}");
        await Kubectl.RunAsync($"create clusterrole plan-{ns} --verb=get,list --resource=deployments.apps,{Images}");
        await Kubectl.RunAsync($"create clusterrolebinding plan-{ns} --clusterrole=plan-{ns} --serviceaccount={ns}:planner");
        await Kubectl.WaitUntilAllowedAsync($"system:serviceaccount:{ns}:planner", "list", Images);
        var token = (await Kubectl.RunAsync($"create token planner -n {ns} --duration=1h")).Trim();
        return cluster.WriteKubeconfig($"{{token: {token}}}");
    }

    /// <summary>
    /// The verbs of the planner's requests in the audit log after <paramref name="from"/>. The API server writes an entry
    /// once the answer is sent: the read waits (bounded) until the plan's last request, the cluster-wide Deployment LIST, is there.
    /// </summary>
    private static async Task<List<string>> PlannerVerbsAsync(string ns, long from)
    {
        var user = $"system:serviceaccount:{ns}:planner";
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (true)
        {
            await using var file = new FileStream(AuditLog, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            file.Seek(from, SeekOrigin.Begin);
            using var reader = new StreamReader(file);
            var entries = (await reader.ReadToEndAsync()).Split('\n')
                .Where(l => l.Contains(user, StringComparison.Ordinal))
                .Select(l => JsonNode.Parse(l)!)
                .Where(e => (string?)e["user"]!["username"] == user && (string?)e["stage"] == "ResponseComplete")
                .ToList();
            // Two plans: each ends with the LIST of Deployments.
            if (entries.Count(e => ((string?)e["requestURI"])?.StartsWith("/apis/apps/v1/deployments?", StringComparison.Ordinal) == true) >= 2
                || DateTime.UtcNow > deadline)
            {
                return entries.Select(e => (string)e["verb"]!).ToList();
            }
        }
    }
}
