using Cachier.Domain;

namespace Cachier.Tests.Unit;

/// <summary>SPEC section 2: <c>Kind.version.group[/plural]</c>.</summary>
public class ResourceKindTests
{
    [Fact]
    public void Parse_splits_on_the_first_two_dots()
    {
        var kind = ResourceKind.Parse("Bar.v1beta2.foo.example.io");

        Assert.Equal(new ResourceKind("Bar", "v1beta2", "foo.example.io", "bars"), kind);
        Assert.Equal("foo.example.io/v1beta2", kind.ApiVersion);
        Assert.Equal("/apis/foo.example.io/v1beta2/bars", kind.CollectionPath());
        Assert.Equal("/apis/foo.example.io/v1beta2/namespaces/x/bars", kind.CollectionPath("x"));
    }

    [Fact]
    public void Parse_accepts_a_core_group_kind_with_one_dot()
    {
        var kind = ResourceKind.Parse("Pod.v1");

        Assert.Equal(new ResourceKind("Pod", "v1", "", "pods"), kind);
        Assert.Equal("v1", kind.ApiVersion);
        Assert.Equal("/api/v1/pods", kind.CollectionPath());
        Assert.Equal("/api/v1/namespaces/x/pods", kind.CollectionPath("x"));
    }

    [Theory]
    [InlineData("Deployment.v1.apps", "Deployment", "apps/v1", "/apis/apps/v1/namespaces/x/deployments")]
    [InlineData("CronJob.v1beta1.batch", "CronJob", "batch/v1beta1", "/apis/batch/v1beta1/namespaces/x/cronjobs")]
    [InlineData("Service.v1.serving.knative.dev", "Service", "serving.knative.dev/v1", "/apis/serving.knative.dev/v1/namespaces/x/services")]
    [InlineData("  Job.v1.batch  ", "Job", "batch/v1", "/apis/batch/v1/namespaces/x/jobs")]
    public void Parse_gives_the_api_version_and_collection_path(string text, string kind, string apiVersion, string path)
    {
        var parsed = ResourceKind.Parse(text);

        Assert.Equal(kind, parsed.Kind);
        Assert.Equal(apiVersion, parsed.ApiVersion);
        Assert.Equal(path, parsed.CollectionPath("x"));
    }

    // SPEC: lower-cased kind; ends in s -> +es; ends in consonant+y -> ies; else +s.
    // (Kubernetes' own UnsafeGuessKindToResource also keeps a trailing "endpoints" unchanged and turns every
    // trailing y into ies; the SPEC's rule differs there, and /plural overrides any guess.)
    [Theory]
    [InlineData("Deployment", "deployments")]
    [InlineData("ReplicaSet", "replicasets")]
    [InlineData("Ingress", "ingresses")]
    [InlineData("Status", "statuses")]
    [InlineData("Policy", "policies")]
    [InlineData("NetworkPolicy", "networkpolicies")]
    [InlineData("Gateway", "gateways")]
    [InlineData("Key", "keys")]
    [InlineData("Endpoints", "endpointses")]
    [InlineData("Pod", "pods")]
    [InlineData("Foo", "foos")]
    [InlineData("Bar", "bars")]
    public void GuessPlural_follows_the_spec_rule(string kind, string plural)
    {
        Assert.Equal(plural, ResourceKind.GuessPlural(kind));
        Assert.Equal(plural, ResourceKind.Parse($"{kind}.v1.example.io").Plural);
    }

    [Theory]
    [InlineData("Foo.v1.example.io/fooi", "Foo", "example.io/v1", "fooi", "/apis/example.io/v1/namespaces/x/fooi")]
    [InlineData("Endpoints.v1/endpoints", "Endpoints", "v1", "endpoints", "/api/v1/namespaces/x/endpoints")]
    [InlineData("Gateway.v1.gateway.networking.k8s.io/gateways", "Gateway", "gateway.networking.k8s.io/v1", "gateways", "/apis/gateway.networking.k8s.io/v1/namespaces/x/gateways")]
    public void Parse_takes_an_explicit_plural_after_a_slash(string text, string kind, string apiVersion, string plural, string path)
    {
        var parsed = ResourceKind.Parse(text);

        Assert.Equal(kind, parsed.Kind);
        Assert.Equal(apiVersion, parsed.ApiVersion);
        Assert.Equal(plural, parsed.Plural);
        Assert.Equal(path, parsed.CollectionPath("x"));
    }

    [Theory]
    [InlineData("")]
    [InlineData(" ")]
    [InlineData("Deployment")]
    [InlineData("Deployment.")]
    [InlineData(".v1.apps")]
    [InlineData("Deployment..apps")]
    [InlineData("Deployment.v1.")]
    [InlineData("Deployment.V1.apps")]
    [InlineData("Deployment.1.apps")]
    [InlineData("Deploy-ment.v1.apps")]
    [InlineData("1Deployment.v1.apps")]
    [InlineData("Foo.v1.bad_group")]
    [InlineData("Foo.v1.Example.io")]
    [InlineData("Foo.v1.example..io")]
    [InlineData("Foo.v1.example.io/Bad")]
    [InlineData("Foo.v1.example.io/")]
    [InlineData("Foo.v1.example.io/a/b")]
    public void Parse_rejects_a_malformed_resource_naming_it(string text)
    {
        var error = Assert.Throws<FormatException>(() => ResourceKind.Parse(text));

        Assert.Contains($"'{text}'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ToString_round_trips_through_Parse()
    {
        foreach (var text in new[] { "Bar.v1beta2.foo.example.io", "Pod.v1", "Foo.v1.example.io/fooi" })
        {
            var kind = ResourceKind.Parse(text);

            Assert.Equal(kind, ResourceKind.Parse(kind.ToString()));
        }
    }
}
