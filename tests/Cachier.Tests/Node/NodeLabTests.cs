using System.Text.Json.Nodes;

namespace Cachier.Tests.Node;

/// <summary>The node lab works as the warmer needs it: Ready nodes, pods pulling from the local registries.</summary>
[Trait("Tier", "Node")]
[Collection(NodeCollection.Name)]
public sealed class NodeLabTests(NodeLab lab)
{
    [NodeFact]
    public async Task Every_node_is_Ready_with_its_name_as_InternalIP()
    {
        Assert.NotEmpty(lab.Nodes);
        Assert.Equal(lab.Nodes.Count, lab.ContainerdSockets.Count);
        foreach (var name in lab.Nodes)
        {
            var node = JsonNode.Parse(await lab.Admin.RunAsync($"get node {name} -o json"))!;
            var ready = node["status"]!["conditions"]!.AsArray().Single(c => (string)c!["type"]! == "Ready")!;
            Assert.Equal("True", (string)ready["status"]!);
            Assert.Contains(node["status"]!["addresses"]!.AsArray(),
                a => (string)a!["type"]! == "InternalIP" && (string)a["address"]! == name);
            Assert.NotEqual(true, (bool?)node["spec"]!["unschedulable"]);
        }
    }

    [NodeFact]
    public async Task A_restricted_pod_pinned_to_each_node_pulls_from_the_local_registry_and_succeeds()
    {
        var ns = await lab.NamespaceAsync();
        var image = $"{lab.Registry}/lab/busybox:1";
        for (var i = 0; i < lab.Nodes.Count; i++)
        {
            await lab.Admin.ApplyAsync(NodeLab.Pod(ns, $"pull-{i}", lab.Nodes[i], image));
        }

        for (var i = 0; i < lab.Nodes.Count; i++)
        {
            await lab.WaitSucceededAsync(ns, $"pull-{i}");
            // The node's own containerd has the image now (what the warmer's tests ask it directly).
            Assert.Contains(image, await NodeLab.CtrAsync(lab.ContainerdSockets[i], "images ls -q"));
        }

        await lab.Admin.RunAsync($"delete namespace {ns} --wait=false");
    }

    [NodeFact]
    public async Task A_pod_pulls_through_the_throttled_registry_path()
    {
        var ns = await lab.NamespaceAsync();
        await lab.Admin.ApplyAsync(NodeLab.Pod(ns, "slow", lab.Nodes[0], $"{lab.SlowRegistry}/lab/busybox:1"));

        await lab.WaitSucceededAsync(ns, "slow");
        await lab.Admin.RunAsync($"delete namespace {ns} --wait=false");
    }

    [NodeFact]
    public async Task A_private_image_pulls_only_with_the_pull_secret()
    {
        var ns = await lab.NamespaceAsync();
        var image = $"{lab.PrivateRegistry}/private/busybox:1";
        var (user, password) = (lab.PrivateRegistryAuth.Split(':', 2)[0], lab.PrivateRegistryAuth.Split(':', 2)[1]);
        await lab.Admin.RunAsync(
            $"create secret docker-registry regcred -n {ns} --docker-server={lab.PrivateRegistry} --docker-username={user} --docker-password={password}");

        // Another test may have pulled it with its secret: a node that has the image serves it to any pod (IfNotPresent).
        await lab.RemoveImageAsync("private/busybox", waitForNodeLists: false);
        await lab.Admin.ApplyAsync(NodeLab.Pod(ns, "without", lab.Nodes[0], image));
        var failed = await lab.WaitPodAsync(ns, "without", p =>
            (string?)p["status"]?["containerStatuses"]?[0]?["state"]?["waiting"]?["reason"] is "ErrImagePull" or "ImagePullBackOff");
        Assert.Equal("Pending", (string)failed["status"]!["phase"]!);

        await lab.Admin.ApplyAsync(NodeLab.Pod(ns, "with", lab.Nodes[0], image, pullSecret: "regcred"));
        await lab.WaitSucceededAsync(ns, "with");
        await lab.Admin.RunAsync($"delete namespace {ns} --wait=false");
    }
}
