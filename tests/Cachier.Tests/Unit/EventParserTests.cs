using System.Net.Mime;
using System.Text.Json;
using Cachier.Domain;
using Cachier.Http;
using Cachier.Reconcile;
using Cachier.Tests.Support;
using CloudNative.CloudEvents;
using CloudNative.CloudEvents.SystemTextJson;

namespace Cachier.Tests.Unit;

/// <summary>SPEC section 6: a CloudEvent becomes an <see cref="Inbound"/> at once.</summary>
public class EventParserTests
{
    private const string Uid = "a792cd10-ca9d-11e8-b5eb-42010af000a3";

    private static readonly string Samples = Path.Combine(AppContext.BaseDirectory, "testassets", "samples");
    private static readonly JsonEventFormatter Formatter = new();
    private static readonly CachierSettings Defaults = new(new CachierOptions());
    private static readonly WorkloadRef Dummy = new("apps/v1", "Deployment", "demo", "dummy");
    private static readonly ResourceKind Deployments = ResourceKind.Parse("Deployment.v1.apps");

    /// <summary>What each ApiServerSource sample must parse to (see the shared reference README).</summary>
    private static readonly Dictionary<string, SampleExpectation> Expected = new()
    {
        ["01-resource-add"] = new("dev.knative.apiserver.resource.add", WorkloadAction.Add, 1, ["ubuntu"], null, []),
        ["02-resource-update"] = new("dev.knative.apiserver.resource.update", WorkloadAction.Update, 2, ["alpine:3.20", "busybox:1.36", "ubuntu"], "dummy-sa", ["regcred"]),
        ["03-ref-update"] = new("dev.knative.apiserver.ref.update", WorkloadAction.Update, null, null, null, []),
        ["04-ref-delete"] = new("dev.knative.apiserver.ref.delete", WorkloadAction.Delete, null, null, null, []),
    };

    public static TheoryData<string, string> SampleModes()
    {
        var data = new TheoryData<string, string>();
        foreach (var file in Directory.EnumerateFiles(Samples, "*.structured.json").Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetFileName(file), "structured");
        }

        foreach (var file in Directory.EnumerateFiles(Samples, "*.data.json").Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetFileName(file), "binary");
        }

        return data;
    }

    [Fact]
    public void Every_sample_has_both_modes_and_an_expectation()
    {
        var stems = Directory.EnumerateFiles(Samples, "*.json").Select(f => Stem(Path.GetFileName(f))).ToHashSet();

        Assert.Equal(Expected.Keys.Order(), stems.Order());
        Assert.All(stems, stem =>
        {
            Assert.Single(Directory.EnumerateFiles(Samples, $"{stem}.*structured.json"));
            Assert.Single(Directory.EnumerateFiles(Samples, $"{stem}.data.json"));
        });
    }

    [Theory]
    [MemberData(nameof(SampleModes))]
    public void Parse_reads_every_ApiServerSource_sample(string file, string mode)
    {
        var stem = Stem(file);
        var cloudEvent = mode == "structured" ? Structured(file) : Binary(stem);
        var expected = Expected[stem];

        var inbound = Assert.IsType<WorkloadInbound>(EventParser.Parse(cloudEvent, Defaults));

        Assert.Equal(expected.Type, inbound.Type);
        Assert.Equal(expected.Action, inbound.Event.Action);
        Assert.Equal(Dummy, inbound.Event.Ref);
        if (expected.Generation is null)
        {
            Assert.Null(inbound.Event.Object);
            return;
        }

        var workload = Assert.IsType<Workload>(inbound.Event.Object);
        Assert.Equal(Dummy, workload.Ref);
        Assert.Equal(Uid, workload.Uid);
        Assert.Equal(expected.Generation, workload.Generation);
        Assert.False(workload.HasController);
        Assert.Null(workload.Decorate);
        var pod = Assert.IsType<PodTemplate>(workload.Pod);
        Assert.Equal(expected.Images, pod.Images.Distinct().Order(StringComparer.Ordinal));
        Assert.Equal(expected.ServiceAccountName, pod.ServiceAccountName);
        Assert.Equal(expected.PullSecrets, pod.ImagePullSecrets);
        Assert.Equal(expected.Images, ImagePlanner.Plan(workload).Images.Select(i => i.Image));
    }

    [Fact]
    public void Parse_falls_back_to_ref_data_when_extensions_are_missing()
    {
        var cloudEvent = CloudEvents.Bound("dev.knative.apiserver.ref.update", """{"kind":"Deployment","namespace":"demo","name":"dummy","apiVersion":"apps/v1"}""");

        var inbound = Assert.IsType<WorkloadInbound>(EventParser.Parse(cloudEvent, Defaults));

        Assert.Equal(new WorkloadEvent(WorkloadAction.Update, Deployments, Dummy, null), inbound.Event);
    }

    [Fact]
    public void Parse_falls_back_to_resource_data_when_extensions_are_missing()
    {
        var cloudEvent = CloudEvents.Bound("dev.knative.apiserver.resource.add", File.ReadAllText(Path.Combine(Samples, "01-resource-add.data.json")));

        var inbound = Assert.IsType<WorkloadInbound>(EventParser.Parse(cloudEvent, Defaults));

        Assert.Equal(Dummy, inbound.Event.Ref);
        Assert.Equal(Uid, inbound.Event.Object?.Uid);
        Assert.Equal(1, inbound.Event.Object?.Generation);
    }

    [Fact]
    public void Parse_fills_only_the_missing_extensions_from_data()
    {
        var cloudEvent = CloudEvents.Bound("dev.knative.apiserver.ref.add", """{"kind":"Deployment","namespace":"demo","name":"dummy","apiVersion":"apps/v1"}""");
        cloudEvent["name"] = "other";

        var inbound = Assert.IsType<WorkloadInbound>(EventParser.Parse(cloudEvent, Defaults));

        Assert.Equal(Dummy with { Name = "other" }, inbound.Event.Ref);
    }

    [Fact]
    public void Parse_prefers_extensions_over_data()
    {
        var cloudEvent = WithExtensions(
            CloudEvents.Bound("dev.knative.apiserver.ref.update", """{"kind":"StatefulSet","namespace":"elsewhere","name":"someone-else","apiVersion":"apps/v1"}"""),
            Dummy);

        var inbound = Assert.IsType<WorkloadInbound>(EventParser.Parse(cloudEvent, Defaults));

        Assert.Equal(Dummy, inbound.Event.Ref);
    }

    [Fact]
    public void Parse_never_reads_the_subject()
    {
        var cloudEvent = CloudEvents.Bound("dev.knative.apiserver.ref.update", null);
        cloudEvent.Subject = "/apis/apps/v1/namespaces/demo/deployments/dummy";

        var error = Assert.Throws<BadEventException>(() => EventParser.Parse(cloudEvent, Defaults));

        Assert.Contains("names no workload", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("dev.knative.apiserver.ref.update")]
    [InlineData("dev.knative.apiserver.resource.add")]
    public void Parse_ignores_a_kind_that_is_not_configured(string type)
    {
        var secret = new WorkloadRef("v1", "Secret", "demo", "token");
        var cloudEvent = WithExtensions(
            CloudEvents.Bound(type, """{"apiVersion":"v1","kind":"Secret","metadata":{"name":"token","namespace":"demo","uid":"u"},"data":{"token":"c2VjcmV0"}}"""),
            secret);

        var ignored = Assert.IsType<IgnoredInbound>(EventParser.Parse(cloudEvent, Defaults));

        Assert.Equal(type, ignored.Type);
        Assert.Equal(secret, ignored.Ref);
        Assert.Contains("Secret", ignored.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_ignores_a_configured_kind_at_another_api_version()
    {
        var cloudEvent = WithExtensions(CloudEvents.Bound("dev.knative.apiserver.ref.update", null), Dummy with { ApiVersion = "batch/v1beta1", Kind = "CronJob" });

        Assert.IsType<IgnoredInbound>(EventParser.Parse(cloudEvent, Defaults));
        Assert.IsType<WorkloadInbound>(EventParser.Parse(cloudEvent, new CachierSettings(new CachierOptions { Resources = ["CronJob.v1beta1.batch"] })));
    }

    [Fact]
    public void Parse_accepts_a_configured_custom_kind()
    {
        var foo = new WorkloadRef("example.com/v1", "Foo", "custom", "my-foo");
        var cloudEvent = WithExtensions(CloudEvents.Bound("dev.knative.apiserver.ref.add", null), foo);

        var inbound = Assert.IsType<WorkloadInbound>(EventParser.Parse(cloudEvent, new CachierSettings(new CachierOptions { Resources = ["Foo.v1.example.com"] })));

        Assert.Equal(new WorkloadEvent(WorkloadAction.Add, ResourceKind.Parse("Foo.v1.example.com"), foo, null), inbound.Event);
    }

    [Fact]
    public void Parse_turns_a_ping_into_a_resync()
    {
        var cloudEvent = CloudEvents.Bound("dev.knative.sources.ping", """{"message":"resync"}""");

        Assert.Equal(new ResyncInbound("dev.knative.sources.ping"), EventParser.Parse(cloudEvent, Defaults));
    }

    [Fact]
    public void Parse_turns_a_ping_without_data_into_a_resync() =>
        Assert.IsType<ResyncInbound>(EventParser.Parse(CloudEvents.Bound("dev.knative.sources.ping", null), Defaults));

    [Theory]
    [InlineData("com.example.order.created")]
    [InlineData("dev.knative.apiserver")]
    [InlineData("dev.knative.sources.pingx")]
    [InlineData("DEV.KNATIVE.APISERVER.REF.UPDATE")]
    public void Parse_ignores_an_unknown_type(string type)
    {
        var cloudEvent = WithExtensions(CloudEvents.Bound(type, null), Dummy);

        var ignored = Assert.IsType<IgnoredInbound>(EventParser.Parse(cloudEvent, Defaults));

        Assert.Equal(type, ignored.Type);
        Assert.Null(ignored.Ref);
        Assert.Contains(type, ignored.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("../x")]
    [InlineData("a/b")]
    [InlineData("Demo")]
    [InlineData("de.mo")]
    [InlineData("-demo")]
    [InlineData("")]
    public void Parse_rejects_a_bad_namespace_naming_it(string ns)
    {
        var cloudEvent = WithExtensions(CloudEvents.Bound("dev.knative.apiserver.ref.update", null), Dummy with { Namespace = ns });

        var error = Assert.Throws<BadEventException>(() => EventParser.Parse(cloudEvent, Defaults));

        Assert.Contains($"'{ns}'", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("../x")]
    [InlineData("a/b")]
    [InlineData("Dummy")]
    [InlineData("dummy-")]
    [InlineData("dum my")]
    [InlineData("")]
    public void Parse_rejects_a_bad_name_naming_it(string name)
    {
        var cloudEvent = WithExtensions(CloudEvents.Bound("dev.knative.apiserver.ref.update", null), Dummy with { Name = name });

        var error = Assert.Throws<BadEventException>(() => EventParser.Parse(cloudEvent, Defaults));

        Assert.Contains($"'{name}'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_rejects_a_bad_name_from_data_naming_it()
    {
        var cloudEvent = CloudEvents.Bound("dev.knative.apiserver.ref.update", """{"kind":"Deployment","namespace":"demo","name":"../../secrets","apiVersion":"apps/v1"}""");

        var error = Assert.Throws<BadEventException>(() => EventParser.Parse(cloudEvent, Defaults));

        Assert.Contains("'../../secrets'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_clips_a_hostile_value_in_the_message()
    {
        // The SDK refuses control characters in attributes, but data may carry anything.
        var cloudEvent = CloudEvents.Bound("dev.knative.apiserver.ref.update", $$"""{"kind":"Deployment","namespace":"demo","name":"\n{{new string('x', 5000)}}","apiVersion":"apps/v1"}""");

        var error = Assert.Throws<BadEventException>(() => EventParser.Parse(cloudEvent, Defaults));

        Assert.True(error.Message.Length < 300, error.Message);
        Assert.DoesNotContain("\n", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_accepts_any_name_Kubernetes_accepts()
    {
        var name = new string('a', 70);
        var cloudEvent = WithExtensions(CloudEvents.Bound("dev.knative.apiserver.ref.update", null), Dummy with { Name = name });

        var inbound = Assert.IsType<WorkloadInbound>(EventParser.Parse(cloudEvent, Defaults));

        Assert.Equal(name, inbound.Event.Ref.Name);
    }

    [Theory]
    [InlineData("apps/v1", "StatefulSet", "demo", "dummy")]
    [InlineData("apps/v1", "Deployment", "demo", "other")]
    [InlineData("apps/v1", "Deployment", "prod", "dummy")]
    [InlineData("apps/v1beta2", "Deployment", "demo", "dummy")]
    public void Parse_rejects_resource_data_that_is_not_the_object_the_event_names(string apiVersion, string kind, string ns, string name)
    {
        var data = File.ReadAllText(Path.Combine(Samples, "01-resource-add.data.json"));
        var settings = new CachierSettings(new CachierOptions { Resources = ["Deployment.v1.apps", "StatefulSet.v1.apps", "Deployment.v1beta2.apps"] });
        var cloudEvent = WithExtensions(CloudEvents.Bound("dev.knative.apiserver.resource.update", data), new WorkloadRef(apiVersion, kind, ns, name));

        var error = Assert.Throws<BadEventException>(() => EventParser.Parse(cloudEvent, settings));

        Assert.Contains("Deployment demo/dummy", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("dev.knative.apiserver.resource.add")]
    [InlineData("dev.knative.apiserver.resource.update")]
    public void Parse_rejects_a_resource_event_without_data(string type)
    {
        var cloudEvent = WithExtensions(CloudEvents.Bound(type, null), Dummy);

        var error = Assert.Throws<BadEventException>(() => EventParser.Parse(cloudEvent, Defaults));

        Assert.Contains(type, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_rejects_resource_data_that_is_not_a_Kubernetes_object()
    {
        var cloudEvent = WithExtensions(CloudEvents.Bound("dev.knative.apiserver.resource.add", """{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"dummy","namespace":"demo"}}"""), Dummy);

        var error = Assert.Throws<BadEventException>(() => EventParser.Parse(cloudEvent, Defaults));

        Assert.Contains("metadata.uid", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_needs_no_data_for_a_resource_delete()
    {
        var cloudEvent = WithExtensions(CloudEvents.Bound("dev.knative.apiserver.resource.delete", null), Dummy);

        var inbound = Assert.IsType<WorkloadInbound>(EventParser.Parse(cloudEvent, Defaults));

        Assert.Equal(new WorkloadEvent(WorkloadAction.Delete, Deployments, Dummy, null), inbound.Event);
    }

    [Theory]
    [InlineData("dev.knative.apiserver.ref.patch")]
    [InlineData("dev.knative.apiserver.resource.patch")]
    [InlineData("dev.knative.apiserver.ref.")]
    public void Parse_rejects_an_unknown_operation(string type)
    {
        var cloudEvent = WithExtensions(CloudEvents.Bound(type, null), Dummy);

        var error = Assert.Throws<BadEventException>(() => EventParser.Parse(cloudEvent, Defaults));

        Assert.Contains($"'{type}'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_rejects_an_event_that_names_no_workload()
    {
        var error = Assert.Throws<BadEventException>(() => EventParser.Parse(CloudEvents.Bound("dev.knative.apiserver.ref.update", "{}"), Defaults));

        Assert.Contains("names no workload", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_rejects_ref_data_with_a_non_string_name()
    {
        var cloudEvent = CloudEvents.Bound("dev.knative.apiserver.ref.update", """{"kind":"Deployment","namespace":"demo","name":42,"apiVersion":"apps/v1"}""");

        var error = Assert.Throws<BadEventException>(() => EventParser.Parse(cloudEvent, Defaults));

        Assert.Contains("'name'", error.Message, StringComparison.Ordinal);
    }

    private static string Stem(string file) => file[..file.IndexOf('.', StringComparison.Ordinal)];

    private static CloudEvent Structured(string file) =>
        Formatter.DecodeStructuredModeMessage(File.ReadAllBytes(Path.Combine(Samples, file)), new ContentType("application/cloudevents+json"), null);

    /// <summary>Binary mode: every attribute of the structured sample as a ce-* header, the data file as the body.</summary>
    private static CloudEvent Binary(string stem)
    {
        using var structured = JsonDocument.Parse(File.ReadAllBytes(Directory.EnumerateFiles(Samples, $"{stem}.*structured.json").Single()));
        var cloudEvent = new CloudEvent(CloudEventsSpecVersion.FromVersionId(structured.RootElement.GetProperty("specversion").GetString())!);
        foreach (var attribute in structured.RootElement.EnumerateObject())
        {
            if (attribute.Name is not ("specversion" or "data" or "datacontenttype"))
            {
                cloudEvent.SetAttributeFromString(attribute.Name, attribute.Value.GetString()!);
            }
        }

        cloudEvent.DataContentType = "application/json";
        Formatter.DecodeBinaryModeEventData(File.ReadAllBytes(Path.Combine(Samples, $"{stem}.data.json")), cloudEvent);
        Assert.True(cloudEvent.IsValid);
        return cloudEvent;
    }

    private static CloudEvent WithExtensions(CloudEvent cloudEvent, WorkloadRef target)
    {
        cloudEvent["apiversion"] = target.ApiVersion;
        cloudEvent["kind"] = target.Kind;
        cloudEvent["namespace"] = target.Namespace;
        cloudEvent["name"] = target.Name;
        return cloudEvent;
    }

    private sealed record SampleExpectation(
        string Type,
        WorkloadAction Action,
        long? Generation,
        string[]? Images,
        string? ServiceAccountName,
        string[] PullSecrets);
}
