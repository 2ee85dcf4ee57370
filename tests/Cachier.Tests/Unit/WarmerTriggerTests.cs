using Cachier.Domain;
using Cachier.Http;
using Cachier.Tests.Support;
using CloudNative.CloudEvents;

namespace Cachier.Tests.Unit;

/// <summary>
/// What a warmer's trigger says (SPEC 11): a Node event names the node to read again after a settled pass, and a node is
/// the same for the warmer when nothing it reads of it changed.
/// </summary>
public class WarmerTriggerTests
{
    private static CloudEvent Event(string kind, string? nameExtension, string? json)
    {
        var cloudEvent = CloudEvents.Bound("dev.knative.apiserver.ref.update", json);
        cloudEvent["kind"] = kind;
        if (nameExtension is not null)
        {
            cloudEvent["name"] = nameExtension;
        }

        return cloudEvent;
    }

    [Theory]
    [InlineData("node-a", """{"kind":"Node","name":"node-b"}""", "node-a")] // the extension first, as for workloads
    [InlineData(null, """{"kind":"Node","name":"node-b","apiVersion":"v1"}""", "node-b")] // Reference mode's data
    [InlineData(null, """{"kind":"Node","metadata":{"name":"ip-10-0-0-1.ec2.internal"}}""", "ip-10-0-0-1.ec2.internal")] // Resource mode's data
    [InlineData(null, null, null)] // names no node: a pass
    [InlineData("Node_A", null, null)] // not a node name: a pass
    [InlineData(null, """{"kind":"Node","name":7}""", null)]
    public void Node_event_names_the_node_to_read_again(string? extension, string? data, string? node)
    {
        var inbound = Assert.IsType<WarmInbound>(WarmerEvents.Parse(Event("Node", extension, data)));

        Assert.Equal(("Node", node), (inbound.Kind, inbound.Node));
    }

    [Theory]
    [InlineData("Image")]
    [InlineData("Pod")]
    public void Image_and_pod_events_name_no_node(string kind)
    {
        var inbound = Assert.IsType<WarmInbound>(WarmerEvents.Parse(Event(kind, "node-a", """{"name":"node-a"}""")));

        Assert.Equal((kind, (string?)null), (inbound.Kind, inbound.Node));
    }

    private static WarmNode Node(Dictionary<string, string>? labels = null, Taint[]? taints = null, string[]? images = null, bool ready = true, bool unschedulable = false) =>
        new("node-a", ready, unschedulable,
            labels ?? new Dictionary<string, string> { ["kubernetes.io/os"] = "linux", ["zone"] = "a" },
            taints ?? [new Taint("gpu", "true", "NoSchedule")],
            (images ?? ["nginx:1.25", "busybox:1.36"]).ToHashSet(StringComparer.Ordinal));

    public static TheoryData<string, WarmNode> Changes() => new()
    {
        { "not Ready", Node(ready: false) },
        { "cordoned", Node(unschedulable: true) },
        { "a label's value", Node(labels: new() { ["kubernetes.io/os"] = "linux", ["zone"] = "b" }) },
        { "a label more", Node(labels: new() { ["kubernetes.io/os"] = "linux", ["zone"] = "a", ["pool"] = "big" }) },
        { "a label less", Node(labels: new() { ["kubernetes.io/os"] = "linux" }) },
        { "a taint's effect", Node(taints: [new Taint("gpu", "true", "NoExecute")]) },
        { "no taint", Node(taints: []) },
        { "an image more", Node(images: ["nginx:1.25", "busybox:1.36", "alpine:3.20"]) },
        { "an image gone", Node(images: ["nginx:1.25"]) },
    };

    [Theory]
    [MemberData(nameof(Changes))]
    public void Node_differs_when_anything_the_warmer_reads_changed(string change, WarmNode changed)
    {
        Assert.False(Node().SameAs(changed), change);
        Assert.False(changed.SameAs(Node()), change);
    }

    [Fact]
    public void Node_read_again_with_equal_contents_in_other_orders_is_the_same()
    {
        var again = Node(labels: new() { ["zone"] = "a", ["kubernetes.io/os"] = "linux" }, images: ["busybox:1.36", "nginx:1.25"]);

        Assert.True(Node().SameAs(again));
    }
}
