using System.Net;
using System.Text.Json.Nodes;
using Cachier.Lab;
using Cachier.Tests.Integration;
using Cachier.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace Cachier.Tests.Node;

/// <summary>
/// SPEC section 11 on the real node: the warmer (the real app, Cachier:Role=warmer, with the token of the
/// cachier-warmer ServiceAccount of knative/warmer.yaml) driven by the ApiServerSource stand-in's events (Images,
/// Nodes, its pull pods, and pings), pulling through the node's kubelet. What is on a node is asked of that node's
/// containerd, never of the warmer's own report. Each test narrows the warmer to its own Images by a label.
/// </summary>
[Collection(NodeCollection.Name)]
[Trait("Tier", "Node")]
public sealed class WarmerNodeTests(NodeLab lab)
{
    private static readonly TimeSpan PullBound = TimeSpan.FromMinutes(3);

    [NodeFact]
    public async Task An_image_becomes_Ready_and_present_on_every_node_and_no_pull_pod_is_left()
    {
        var ns = await lab.NamespaceAsync();
        var image = $"{lab.SlowRegistry}/lab/large:1";
        await lab.RemoveImageAsync("lab/large");
        await using var warmer = await WarmerHost.StartAsync(lab, ns);

        await CreateImageAsync(ns, "large", image);

        var ready = await WaitReadyAsync(ns, "large", "True");
        Assert.Equal("Pulled", (string?)ready["reason"]);
        foreach (var socket in lab.ContainerdSockets)
        {
            Assert.Contains(image, await ImagesOnNodeAsync(socket));
        }

        await WaitNoPullPodsAsync(ns);
    }

    [NodeFact]
    public async Task Two_images_of_one_namespace_with_the_same_credentials_share_one_pull_pod()
    {
        var ns = await lab.NamespaceAsync();
        await lab.RemoveImageAsync("lab/large");
        await lab.RemoveImageAsync($"{lab.SlowRegistry}/lab/busybox");
        await using var warmer = await WarmerHost.StartAsync(lab, ns, start: false);

        // Both Images exist before the first pass, which plans them together.
        await CreateImageAsync(ns, "large", $"{lab.SlowRegistry}/lab/large:1");
        await CreateImageAsync(ns, "busybox", $"{lab.SlowRegistry}/lab/busybox:1");
        await warmer.StartAsync();

        var pods = await Poll.ValueAsync(async () =>
        {
            var items = await PullPodsAsync(ns);
            return items.Count > 0 ? items : null;
        }, TimeSpan.FromSeconds(120), "a pull pod");
        Assert.Equal(lab.Nodes.Count, pods.Count);
        Assert.All(pods, pod => Assert.Equal(
            [$"{lab.SlowRegistry}/lab/busybox:1", $"{lab.SlowRegistry}/lab/large:1"],
            pod["spec"]!["containers"]!.AsArray().Select(c => (string)c!["image"]!).Order()));
        await WaitReadyAsync(ns, "large", "True");
        await WaitReadyAsync(ns, "busybox", "True");
        await WaitNoPullPodsAsync(ns);
    }

    [NodeFact]
    public async Task A_missing_image_is_Ready_False_ErrImagePull_and_is_not_retried_within_its_backoff()
    {
        var ns = await lab.NamespaceAsync();
        await using var warmer = await WarmerHost.StartAsync(lab, ns, ("Warmer:RetryBackoff", "01:00:00"), ("Warmer:RetryBackoffMax", "01:00:00"));

        await CreateImageAsync(ns, "missing", $"{lab.Registry}/lab/missing:1");

        var failed = await WaitReadyAsync(ns, "missing", "False");
        Assert.Equal("ErrImagePull", (string?)failed["reason"]);
        await WaitNoPullPodsAsync(ns);
        // Two more passes after the failure: neither starts another pull, and each node still records one attempt.
        for (var i = 0; i < 2; i++)
        {
            var pass = JsonNode.Parse(await warmer.ResyncAsync())!;
            Assert.Equal(0, (int)pass["podsCreated"]!);
        }

        Assert.Empty(await PullPodsAsync(ns));
        var records = await NodeRecordsAsync(ns, "missing");
        Assert.Equal(lab.Nodes.Count, records.Count);
        Assert.All(records, r => Assert.Contains(" x1", r, StringComparison.Ordinal));
    }

    [NodeFact]
    public async Task A_namespace_whose_ResourceQuota_admits_no_pod_is_Ready_False_QuotaExceeded()
    {
        var ns = await lab.NamespaceAsync();
        await lab.Admin.ApplyAsync($$"""
            apiVersion: v1
            kind: ResourceQuota
            metadata: {name: no-pods, namespace: {{ns}}}
            spec:
              hard: {pods: "0"}
            """);
        // The quota's admission counts against status.hard, which the controller-manager fills in.
        await Poll.TrueAsync(async () => (await lab.Admin.GetAsync("resourcequota/no-pods", ns))["status"]?["hard"] is not null,
            TimeSpan.FromSeconds(60), $"the ResourceQuota of {ns} to have its status");
        await using var warmer = await WarmerHost.StartAsync(lab, ns, ("Warmer:RetryBackoff", "01:00:00"), ("Warmer:RetryBackoffMax", "01:00:00"));

        await CreateImageAsync(ns, "refused", $"{lab.Registry}/lab/missing:1");

        var refused = await WaitReadyAsync(ns, "refused", "False");
        Assert.Equal("QuotaExceeded", (string?)refused["reason"]);
        Assert.Contains("exceeded quota", (string?)refused["message"], StringComparison.Ordinal);
        var records = await NodeRecordsAsync(ns, "refused");
        Assert.Equal(lab.Nodes.Count, records.Count);
        Assert.All(records, r => Assert.StartsWith("QuotaExceeded ", r, StringComparison.Ordinal));
        Assert.Empty(await PullPodsAsync(ns));
    }

    [NodeFact]
    public async Task A_private_image_pulls_only_with_the_pull_secret_the_Image_names()
    {
        var ns = await lab.NamespaceAsync();
        var image = $"{lab.PrivateRegistry}/private/busybox:1";
        await lab.RemoveImageAsync("private/busybox");
        var (user, password) = (lab.PrivateRegistryAuth.Split(':', 2)[0], lab.PrivateRegistryAuth.Split(':', 2)[1]);
        await lab.Admin.RunAsync($"create secret docker-registry regcred -n {ns} --docker-server={lab.PrivateRegistry} --docker-username={user} --docker-password={password}");
        await using var warmer = await WarmerHost.StartAsync(lab, ns);

        await CreateImageAsync(ns, "without", image);
        var refused = await WaitReadyAsync(ns, "without", "False");
        Assert.Equal("ErrImagePull", (string?)refused["reason"]);
        foreach (var socket in lab.ContainerdSockets)
        {
            Assert.DoesNotContain(image, await ImagesOnNodeAsync(socket));
        }

        await CreateImageAsync(ns, "with", image, pullSecret: "regcred");
        await WaitReadyAsync(ns, "with", "True");
        foreach (var socket in lab.ContainerdSockets)
        {
            Assert.Contains(image, await ImagesOnNodeAsync(socket));
        }

        await WaitNoPullPodsAsync(ns);
    }

    [NodeFact]
    public async Task A_workload_whose_node_selector_excludes_a_node_gets_no_pull_pod_there()
    {
        var ns = await lab.NamespaceAsync();
        var chosen = lab.Nodes[^1];
        var image = $"{lab.SlowRegistry}/lab/busybox:1";
        await lab.RemoveImageAsync($"{lab.SlowRegistry}/lab/busybox");
        await lab.Admin.ApplyAsync($$$"""
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: picky, namespace: {{{ns}}}}
            spec:
              replicas: 0
              selector: {matchLabels: {app: picky}}
              template:
                metadata: {labels: {app: picky}}
                spec:
                  nodeSelector: {kubernetes.io/hostname: "{{{chosen}}}"}
                  containers: [{name: app, image: "{{{image}}}"}]
            """);
        var uid = (await lab.Admin.RunAsync($"get deployment picky -n {ns} -o jsonpath={{.metadata.uid}}")).Trim();
        await lab.Admin.ApplyAsync($$$"""
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: nowhere, namespace: {{{ns}}}}
            spec:
              replicas: 0
              selector: {matchLabels: {app: nowhere}}
              template:
                metadata: {labels: {app: nowhere}}
                spec:
                  nodeSelector: {cachier.test/no-such-label: "x"}
                  containers: [{name: app, image: "{{{lab.Registry}}}/lab/busybox:1"}]
            """);
        var nowhereUid = (await lab.Admin.RunAsync($"get deployment nowhere -n {ns} -o jsonpath={{.metadata.uid}}")).Trim();
        await using var warmer = await WarmerHost.StartAsync(lab, ns);

        await CreateImageAsync(ns, "picky", image, owner: ("picky", uid));
        await CreateImageAsync(ns, "nowhere", $"{lab.Registry}/lab/busybox:1", owner: ("nowhere", nowhereUid));

        await WaitReadyAsync(ns, "picky", "True");
        var none = await WaitReadyAsync(ns, "nowhere", "True");
        Assert.Equal("NoEligibleNodes", (string?)none["reason"]);
        Assert.Equal([chosen], (await NodeRecordsByNodeAsync(ns, "picky")).Keys.Order());
        Assert.Empty(await NodeRecordsAsync(ns, "nowhere"));
        Assert.Contains(image, await ImagesOnNodeAsync(lab.ContainerdSockets[^1]));
        foreach (var socket in lab.ContainerdSockets.SkipLast(1))
        {
            Assert.DoesNotContain(image, await ImagesOnNodeAsync(socket));
        }

        await WaitNoPullPodsAsync(ns);
    }

    [NodeFact]
    public async Task Deleting_an_Image_while_it_pulls_stops_its_pull_pods()
    {
        var ns = await lab.NamespaceAsync();
        await lab.RemoveImageAsync("lab/large");
        await using var warmer = await WarmerHost.StartAsync(lab, ns);

        await CreateImageAsync(ns, "large", $"{lab.SlowRegistry}/lab/large:1");
        await Poll.TrueAsync(async () => (await PullPodsAsync(ns)).Count > 0, TimeSpan.FromSeconds(120), "a pull pod");
        await lab.Admin.RunAsync($"delete images.caching.internal.knative.dev large -n {ns}");

        await WaitNoPullPodsAsync(ns);
    }

    [NodeFact]
    public async Task A_warmer_restarted_mid_pull_converges()
    {
        var ns = await lab.NamespaceAsync();
        await lab.RemoveImageAsync("lab/large");
        await using (var first = await WarmerHost.StartAsync(lab, ns))
        {
            await CreateImageAsync(ns, "large", $"{lab.SlowRegistry}/lab/large:1");
            await Poll.TrueAsync(async () => (await PullPodsAsync(ns)).Count > 0, TimeSpan.FromSeconds(120), "a pull pod");
        }

        await using var second = await WarmerHost.StartAsync(lab, ns);

        await WaitReadyAsync(ns, "large", "True");
        foreach (var socket in lab.ContainerdSockets)
        {
            Assert.Contains($"{lab.SlowRegistry}/lab/large:1", await ImagesOnNodeAsync(socket));
        }

        await WaitNoPullPodsAsync(ns);
    }

    [NodeFact]
    public async Task Once_settled_a_Node_event_is_one_read_of_that_node_and_a_pass_only_when_the_node_changed()
    {
        var ns = await lab.NamespaceAsync();
        var image = $"{lab.Registry}/lab/busybox:1";
        // No stand-in source: only the passes and Node events this test sends, so none of them races with another.
        await using var warmer = await WarmerHost.StartAsync(lab, ns, start: false);
        await CreateImageAsync(ns, "small", image);
        // Settled: the Image Ready, no pull pod, and every node listing the image (a pass carries each pull forward).
        await Poll.TrueAsync(async () =>
        {
            await warmer.ResyncAsync();
            var nodes = (await lab.Admin.GetAsync("nodes", ns))["items"]!.AsArray();
            var listed = nodes.All(n => n!["status"]?["images"]?.AsArray().Any(i => i!["names"]!.AsArray().Any(x => (string?)x == image)) == true);
            var ready = (await lab.Admin.GetAsync("images.caching.internal.knative.dev/small", ns))["status"]?["conditions"]?.AsArray()
                .Any(c => (string?)c!["type"] == "Ready" && (string?)c["status"] == "True") == true;
            return listed && ready && (await PullPodsAsync(ns)).Count == 0;
        }, PullBound, "the Image Ready, no pull pod, every node listing the image");
        await warmer.ResyncAsync(); // the pass that sees it settled

        foreach (var node in lab.Nodes)
        {
            Assert.Equal("unchanged", await warmer.NodeEventAsync(node));
        }

        var touched = lab.Nodes[0];
        try
        {
            await lab.Admin.RunAsync(["label", "node", touched, $"cachier-test-touched={ns}"]);
            Assert.Equal("completed", await warmer.NodeEventAsync(touched)); // a label the owner's selector could read
            Assert.Equal("unchanged", await warmer.NodeEventAsync(touched)); // that pass settled with it
        }
        finally
        {
            await lab.Admin.RunAsync(["label", "node", touched, "cachier-test-touched-"]);
        }
    }

    private async Task CreateImageAsync(string ns, string name, string image, string? pullSecret = null, (string Name, string Uid)? owner = null)
    {
        var owners = owner is { } o
            ? $"ownerReferences: [{{apiVersion: apps/v1, kind: Deployment, name: {o.Name}, uid: {o.Uid}, controller: true}}]"
            : "";
        var secrets = pullSecret is null ? "" : $"imagePullSecrets: [{{name: {pullSecret}}}]";
        await lab.Admin.ApplyAsync($$"""
            apiVersion: caching.internal.knative.dev/v1alpha1
            kind: Image
            metadata:
              name: {{name}}
              namespace: {{ns}}
              labels: {cachier-test: {{ns}}}
              {{owners}}
            spec:
              image: "{{image}}"
              {{secrets}}
            """);
    }

    /// <summary>The Image's Ready condition once its status is <paramref name="status"/> (polling; each kubectl call paces the next).</summary>
    private Task<JsonObject> WaitReadyAsync(string ns, string name, string status) =>
        Poll.ValueAsync(async () =>
        {
            var image = await lab.Admin.GetAsync($"images.caching.internal.knative.dev/{name}", ns);
            var ready = image["status"]?["conditions"]?.AsArray().FirstOrDefault(c => (string?)c!["type"] == "Ready")?.AsObject();
            return (string?)ready?["status"] == status ? ready : null;
        }, PullBound, $"Image {ns}/{name} Ready={status}");

    private async Task<List<string>> NodeRecordsAsync(string ns, string name) => (await NodeRecordsByNodeAsync(ns, name)).Values.ToList();

    private async Task<Dictionary<string, string>> NodeRecordsByNodeAsync(string ns, string name)
    {
        var annotations = (await lab.Admin.GetAsync($"images.caching.internal.knative.dev/{name}", ns))["status"]?["annotations"]?.AsObject();
        return annotations?.Where(a => a.Key.StartsWith("node.warm.cachier.dev/", StringComparison.Ordinal))
            .ToDictionary(a => a.Key["node.warm.cachier.dev/".Length..], a => (string)a.Value!) ?? [];
    }

    private async Task<List<JsonObject>> PullPodsAsync(string ns) =>
        (await lab.Admin.GetAsync("pods -l app.kubernetes.io/managed-by=cachier-warmer", ns))["items"]!.AsArray().Select(p => p!.AsObject()).ToList();

    private Task WaitNoPullPodsAsync(string ns) =>
        Poll.TrueAsync(async () => (await PullPodsAsync(ns)).Count == 0, TimeSpan.FromSeconds(90), $"no pull pod left in {ns}");

    /// <summary>The image references a node's containerd holds (CRI namespace).</summary>
    private static async Task<HashSet<string>> ImagesOnNodeAsync(string socket) =>
        (await NodeLab.CtrAsync(socket, "images ls -q")).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet();

    /// <summary>The warmer on a real port, and the ApiServerSource stand-in delivering to it.</summary>
    private sealed class WarmerHost : IAsyncDisposable
    {
        private readonly AppHost _app;
        private readonly string _ns;
        private readonly string _admin;
        private readonly string _kubeconfig;
        private readonly CancellationTokenSource _stop = new();
        private Task<int>? _source;

        private readonly string _url;

        private WarmerHost(AppHost app, string ns, string admin, string url, string kubeconfig) =>
            (_app, _ns, _admin, _url, _kubeconfig) = (app, ns, admin, url, kubeconfig);

        public static async Task<WarmerHost> StartAsync(NodeLab lab, string ns, params (string Key, string Value)[] settings) =>
            await StartAsync(lab, ns, true, settings);

        public static async Task<WarmerHost> StartAsync(NodeLab lab, string ns, bool start, params (string Key, string Value)[] settings)
        {
            var kubeconfig = await WarmerKubeconfigAsync(lab);
            // Over HTTP on a dynamic loopback port, where the stand-in delivers. Who may send events is
            // SenderAuthentication*Tests' subject; here the stand-in sends without a token (the host's default).
            var app = AppHost.Start(new AppOptions
            {
                Kubeconfig = kubeconfig,
                Events = KubeEvents.Sent,
                OnLoopbackPort = true,
                Settings =
                [
                    ("Role", "warmer"),
                    ("Warmer:HelperImage", $"{lab.Registry}/lab/busybox:1"),
                    ("Warmer:ImageSelector", $"cachier-test={ns}"),
                    // The shipped minimum between resyncs, not the host's back-to-back default.
                    ("ResyncMinInterval", "00:01:00"),
                    .. settings,
                ],
            });
            var host = new WarmerHost(app, ns, lab.Admin.Kubeconfig, app.Url!, kubeconfig);
            if (start)
            {
                await host.StartAsync();
            }

            return host;
        }

        public Task StartAsync()
        {
            string[] args =
            [
                "--kubeconfig", _admin, "--sink", _url,
                "--resource", $"caching.internal.knative.dev/v1alpha1/images?cachier-test={_ns}",
                "--resource", "v1/nodes",
                "--resource", "v1/pods?app.kubernetes.io/managed-by=cachier-warmer",
                "--ping-every", "3s", "--ping-now",
            ];
            _source = Task.Run(() => SourceCommand.RunAsync(args, TextWriter.Null, _stop.Token));
            return Task.CompletedTask;
        }

        /// <summary>A Node event as the source sends it (Reference mode), by hand; the warm answer's <c>result</c>.</summary>
        public async Task<string> NodeEventAsync(string node)
        {
            using var client = _app.CreateClient();
            using var response = await client.SendAsync(CloudEvents.Ref("update", "v1", "Node", "", node));
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.IsSuccessStatusCode, $"Node event for {node}: {(int)response.StatusCode} {text}");
            return (string)JsonNode.Parse(text)!["warm"]!["result"]!;
        }

        /// <summary>One pass, asked for by hand; its summary.</summary>
        public async Task<string> ResyncAsync()
        {
            using var client = _app.CreateClient();
            using var response = await client.PostAsync("/resync", null);
            return await response.Content.ReadAsStringAsync();
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            if (_source is not null)
            {
                await _source;
            }

            _app.Dispose();
            _stop.Dispose();
            // It holds a token of the warmer's ServiceAccount.
            File.Delete(_kubeconfig);
        }

        /// <summary>A kubeconfig with a token of the cachier-warmer ServiceAccount (knative/warmer.yaml applied, RBAC in force).</summary>
        private static async Task<string> WarmerKubeconfigAsync(NodeLab lab)
        {
            await lab.Admin.RunAsync(["apply", "-f", Repository.WarmerYaml]);
            await lab.Admin.WaitUntilAllowedAsync("system:serviceaccount:cachier-system:cachier-warmer", "create", "pods");
            var token = (await lab.Admin.RunAsync("create token cachier-warmer -n cachier-system --duration=2h")).Trim();
            var admin = lab.Admin.Kubeconfig;
            return Kubeconfig.Write(Kubeconfig.AdminValue(admin, "server"), Kubeconfig.AdminValue(admin, "certificate-authority-data"),
                $"{{token: {token}}}", Path.Combine(Path.GetTempPath(), $"cachier-warmer-{Guid.NewGuid():N}.kubeconfig"));
        }
    }
}
