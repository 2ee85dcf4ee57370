using Cachier.Domain;

namespace Cachier.Tests.Unit;

/// <summary>
/// Which nodes the warmer pulls on (SPEC 11): the scheduler's rules for tolerations (Kubernetes
/// <c>Toleration.ToleratesTaint</c>), node selector terms (<c>nodeaffinity</c>), and the names a node reports an image by.
/// </summary>
public class NodeFitTests
{
    private static readonly Dictionary<string, string> NoLabels = [];

    private static WarmNode Node(string name = "node-a", Dictionary<string, string>? labels = null, Taint[]? taints = null, bool ready = true,
        bool unschedulable = false) =>
        new(name, ready, unschedulable, labels ?? new Dictionary<string, string> { ["kubernetes.io/os"] = "linux" }, taints ?? [], new HashSet<string>());

    private static Scheduling With(Toleration[]? tolerations = null, Dictionary<string, string>? selector = null, NodeSelectorTerm[]? terms = null) =>
        new(selector ?? NoLabels, terms ?? [], tolerations ?? []);

    private static NodeSelectorTerm Term(params NodeRequirement[] expressions) => new(expressions, []);

    private static NodeRequirement Req(string key, string op, params string[] values) => new(key, op, values);

    // ---- tolerations -------------------------------------------------------------------------------------

    [Theory]
    [InlineData("dedicated", "Equal", "gpu", "NoSchedule", true)]
    [InlineData("dedicated", "", "gpu", "NoSchedule", true)]
    [InlineData("dedicated", "Equal", "db", "NoSchedule", false)]
    [InlineData("dedicated", "Equal", "gpu", "NoExecute", false)]
    [InlineData("dedicated", "Equal", "gpu", null, true)]
    [InlineData("other", "Equal", "gpu", "NoSchedule", false)]
    [InlineData("dedicated", "Exists", null, "NoSchedule", true)]
    [InlineData("dedicated", "Exists", null, null, true)]
    [InlineData(null, "Exists", null, null, true)]
    [InlineData("", "Exists", null, "NoSchedule", true)]
    [InlineData(null, "Exists", null, "NoExecute", false)]
    [InlineData(null, "Equal", "gpu", "NoSchedule", false)]
    [InlineData("dedicated", "Lt", "gpu", "NoSchedule", false)]
    public void Toleration_tolerates_a_taint_as_the_scheduler_does(string? key, string op, string? value, string? effect, bool tolerates)
    {
        var taint = new Taint("dedicated", "gpu", "NoSchedule");

        Assert.Equal(tolerates, NodeFit.Tolerates(new Toleration(key, op, value, effect), taint));
    }

    [Fact]
    public void Equal_toleration_without_value_tolerates_a_taint_without_value()
    {
        Assert.True(NodeFit.Tolerates(new Toleration("maintenance", "Equal", null, "NoExecute"), new Taint("maintenance", null, "NoExecute")));
        Assert.True(NodeFit.Tolerates(new Toleration("maintenance", "Equal", "", "NoExecute"), new Taint("maintenance", null, "NoExecute")));
        Assert.False(NodeFit.Tolerates(new Toleration("maintenance", "Equal", null, "NoExecute"), new Taint("maintenance", "soon", "NoExecute")));
    }

    [Fact]
    public void Node_with_an_untolerated_NoSchedule_or_NoExecute_taint_is_not_admitted()
    {
        Assert.False(NodeFit.Admits(Node(taints: [new Taint("dedicated", "gpu", "NoSchedule")]), With()));
        Assert.False(NodeFit.Admits(Node(taints: [new Taint("maintenance", null, "NoExecute")]), With()));
        Assert.True(NodeFit.Admits(Node(taints: [new Taint("dedicated", "gpu", "NoSchedule")]), With([new Toleration("dedicated", "Equal", "gpu", "NoSchedule")])));
    }

    [Fact]
    public void PreferNoSchedule_taint_does_not_bar_a_node()
    {
        Assert.True(NodeFit.Admits(Node(taints: [new Taint("soft", "x", "PreferNoSchedule")]), With()));
    }

    [Fact]
    public void Every_taint_must_be_tolerated()
    {
        var node = Node(taints: [new Taint("a", "1", "NoSchedule"), new Taint("b", "2", "NoSchedule")]);

        Assert.False(NodeFit.Admits(node, With([new Toleration("a", "Equal", "1", "NoSchedule")])));
        Assert.True(NodeFit.Admits(node, With([new Toleration("a", "Equal", "1", "NoSchedule"), new Toleration("b", "Exists", null, null)])));
    }

    // ---- node state, OS, selector ------------------------------------------------------------------------

    [Fact]
    public void Node_that_is_not_ready_or_unschedulable_is_not_admitted_even_when_everything_is_tolerated()
    {
        var all = With([new Toleration(null, "Exists", null, null)]);

        Assert.False(NodeFit.Admits(Node(ready: false), all));
        Assert.False(NodeFit.Admits(Node(unschedulable: true), all));
        Assert.True(NodeFit.Admits(Node(), all));
    }

    [Fact]
    public void Windows_node_is_not_admitted_and_a_node_without_an_os_label_is()
    {
        Assert.False(NodeFit.Admits(Node(labels: new() { ["kubernetes.io/os"] = "windows" }), With()));
        Assert.True(NodeFit.Admits(Node(labels: []), With()));
    }

    [Fact]
    public void Node_selector_needs_every_label_with_its_value()
    {
        var node = Node(labels: new() { ["disktype"] = "ssd", ["zone"] = "z1" });

        Assert.True(NodeFit.Admits(node, With(selector: new() { ["disktype"] = "ssd", ["zone"] = "z1" })));
        Assert.False(NodeFit.Admits(node, With(selector: new() { ["disktype"] = "hdd" })));
        Assert.False(NodeFit.Admits(node, With(selector: new() { ["gpu"] = "true" })));
    }

    // ---- required node affinity --------------------------------------------------------------------------

    [Theory]
    [InlineData("In", new[] { "z1", "z2" }, true)]
    [InlineData("In", new[] { "z2" }, false)]
    [InlineData("NotIn", new[] { "z2" }, true)]
    [InlineData("NotIn", new[] { "z1" }, false)]
    [InlineData("Exists", new string[0], true)]
    [InlineData("DoesNotExist", new string[0], false)]
    [InlineData("Unknown", new[] { "z1" }, false)]
    public void Match_expression_on_a_present_label(string op, string[] values, bool admits)
    {
        var node = Node(labels: new() { ["zone"] = "z1" });

        Assert.Equal(admits, NodeFit.Admits(node, With(terms: [Term(Req("zone", op, values))])));
    }

    [Theory]
    [InlineData("In", false)]
    [InlineData("NotIn", true)]
    [InlineData("Exists", false)]
    [InlineData("DoesNotExist", true)]
    [InlineData("Gt", false)]
    [InlineData("Lt", false)]
    public void Match_expression_on_an_absent_label(string op, bool admits)
    {
        var values = op is "Exists" or "DoesNotExist" ? Array.Empty<string>() : ["5"];

        Assert.Equal(admits, NodeFit.Admits(Node(labels: []), With(terms: [Term(Req("zone", op, values))])));
    }

    [Theory]
    [InlineData("Gt", "4", true)]
    [InlineData("Gt", "5", false)]
    [InlineData("Gt", "-1", true)]
    [InlineData("Lt", "6", true)]
    [InlineData("Lt", "5", false)]
    [InlineData("Lt", "x", false)]
    [InlineData("Gt", "x", false)]
    public void Gt_and_Lt_compare_integers_and_fail_on_anything_else(string op, string value, bool admits)
    {
        var node = Node(labels: new() { ["cores"] = "5" });

        Assert.Equal(admits, NodeFit.Admits(node, With(terms: [Term(Req("cores", op, value))])));
    }

    [Fact]
    public void Gt_and_Lt_need_exactly_one_value_and_an_integer_label()
    {
        Assert.False(NodeFit.Admits(Node(labels: new() { ["cores"] = "5" }), With(terms: [Term(Req("cores", "Gt", "1", "2"))])));
        Assert.False(NodeFit.Admits(Node(labels: new() { ["cores"] = "five" }), With(terms: [Term(Req("cores", "Gt", "1"))])));
        Assert.False(NodeFit.Admits(Node(labels: new() { ["cores"] = "five" }), With(terms: [Term(Req("cores", "Lt", "9"))])));
    }

    [Fact]
    public void Terms_are_ORed_and_their_expressions_ANDed()
    {
        var node = Node(labels: new() { ["zone"] = "z1", ["gpu"] = "true" });
        var zoneWithoutGpu = Term(Req("zone", "In", "z1"), Req("gpu", "DoesNotExist"));
        var anyGpu = Term(Req("gpu", "Exists"));

        Assert.False(NodeFit.Admits(node, With(terms: [zoneWithoutGpu])));
        Assert.True(NodeFit.Admits(node, With(terms: [zoneWithoutGpu, anyGpu])));
    }

    [Fact]
    public void Match_fields_select_by_node_name_only()
    {
        var byName = new NodeSelectorTerm([], [Req("metadata.name", "In", "node-a")]);
        var notByName = new NodeSelectorTerm([], [Req("metadata.name", "NotIn", "node-a")]);
        var otherField = new NodeSelectorTerm([], [Req("spec.providerID", "In", "node-a")]);

        Assert.True(NodeFit.Admits(Node("node-a"), With(terms: [byName])));
        Assert.False(NodeFit.Admits(Node("node-b"), With(terms: [byName])));
        Assert.False(NodeFit.Admits(Node("node-a"), With(terms: [notByName])));
        Assert.True(NodeFit.Admits(Node("node-b"), With(terms: [notByName])));
        Assert.False(NodeFit.Admits(Node("node-a"), With(terms: [otherField])));
    }

    [Fact]
    public void Match_fields_and_expressions_of_one_term_are_ANDed()
    {
        var term = new NodeSelectorTerm([Req("zone", "In", "z1")], [Req("metadata.name", "In", "node-a")]);

        Assert.True(NodeFit.Admits(Node("node-a", labels: new() { ["zone"] = "z1" }), With(terms: [term])));
        Assert.False(NodeFit.Admits(Node("node-a", labels: new() { ["zone"] = "z2" }), With(terms: [term])));
    }

    [Fact]
    public void Empty_term_matches_nothing()
    {
        var empty = new NodeSelectorTerm([], []);

        Assert.False(NodeFit.Admits(Node(), With(terms: [empty])));
        Assert.True(NodeFit.Admits(Node(), With(terms: [empty, Term(Req("kubernetes.io/os", "In", "linux"))])));
    }

    [Fact]
    public void No_required_terms_admit_every_node()
    {
        Assert.True(NodeFit.Admits(Node(labels: []), With()));
    }

    // ---- image names -------------------------------------------------------------------------------------

    [Theory]
    [InlineData("nginx", "docker.io/library/nginx:latest")]
    [InlineData("nginx:1.25", "docker.io/library/nginx:1.25")]
    [InlineData("library/nginx:1.25", "docker.io/library/nginx:1.25")]
    [InlineData("bitnami/redis:7.2", "docker.io/bitnami/redis:7.2")]
    [InlineData("docker.io/nginx:1.25", "docker.io/library/nginx:1.25")]
    [InlineData("index.docker.io/nginx", "docker.io/library/nginx:latest")]
    [InlineData("docker.io/library/nginx:1.25", "docker.io/library/nginx:1.25")]
    [InlineData("docker.io/bitnami/redis", "docker.io/bitnami/redis:latest")]
    [InlineData("ghcr.io/org/app", "ghcr.io/org/app:latest")]
    [InlineData("ghcr.io/org/team/app:v1", "ghcr.io/org/team/app:v1")]
    [InlineData("registry.example.com:5000/app", "registry.example.com:5000/app:latest")]
    [InlineData("registry.example.com:5000/team/app:v2", "registry.example.com:5000/team/app:v2")]
    [InlineData("registry:5000/app", "registry:5000/app:latest")]
    [InlineData("localhost/app:dev", "localhost/app:dev")]
    [InlineData("localhost:5000/app", "localhost:5000/app:latest")]
    public void Normalize_names_an_image_as_the_runtime_records_it(string image, string normalized)
    {
        Assert.Equal(normalized, NodeFit.Normalize(image));
    }

    [Theory]
    [InlineData("nginx@sha256:0123", "docker.io/library/nginx@sha256:0123")]
    [InlineData("nginx:1.25@sha256:0123", "docker.io/library/nginx@sha256:0123")]
    [InlineData("registry.example.com:5000/team/app@sha256:0123", "registry.example.com:5000/team/app@sha256:0123")]
    [InlineData("registry.example.com:5000/team/app:v2@sha256:0123", "registry.example.com:5000/team/app@sha256:0123")]
    [InlineData("localhost:5000/app:v1@sha256:0123", "localhost:5000/app@sha256:0123")]
    public void Normalize_keeps_the_digest_and_drops_the_tag(string image, string normalized)
    {
        Assert.Equal(normalized, NodeFit.Normalize(image));
    }
}
