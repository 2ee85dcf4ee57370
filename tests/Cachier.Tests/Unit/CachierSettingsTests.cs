using System.Globalization;
using Cachier.Domain;

namespace Cachier.Tests.Unit;

/// <summary>SPEC sections 2 and 8: the watched kinds and the start-time validation of configuration.</summary>
public class CachierSettingsTests
{
    [Fact]
    public void Default_kinds_are_the_six_workload_kinds_of_the_spec()
    {
        var kinds = new CachierSettings(new CachierOptions()).Kinds;

        Assert.Equal(
            [
                new ResourceKind("Deployment", "v1", "apps", "deployments"),
                new ResourceKind("ReplicaSet", "v1", "apps", "replicasets"),
                new ResourceKind("StatefulSet", "v1", "apps", "statefulsets"),
                new ResourceKind("DaemonSet", "v1", "apps", "daemonsets"),
                new ResourceKind("Job", "v1", "batch", "jobs"),
                new ResourceKind("CronJob", "v1", "batch", "cronjobs"),
            ],
            kinds);
    }

    [Fact]
    public void A_comma_separated_value_yields_several_kinds()
    {
        var settings = new CachierSettings(new CachierOptions { Resources = ["Deployment.v1.apps, Pod.v1,Foo.v1.example.io/fooi"] });

        Assert.Equal(
            [
                new ResourceKind("Deployment", "v1", "apps", "deployments"),
                new ResourceKind("Pod", "v1", "", "pods"),
                new ResourceKind("Foo", "v1", "example.io", "fooi"),
            ],
            settings.Kinds);
    }

    [Fact]
    public void Configured_kinds_replace_the_defaults()
    {
        var settings = new CachierSettings(new CachierOptions { Resources = ["CronJob.v1beta1.batch"] });

        Assert.Equal("batch/v1beta1", Assert.Single(settings.Kinds).ApiVersion);
        Assert.NotNull(ResourceKind.Find(settings.Kinds, "batch/v1beta1", "CronJob"));
        Assert.Null(ResourceKind.Find(settings.Kinds, "batch/v1", "CronJob"));
        Assert.Null(ResourceKind.Find(settings.Kinds, "apps/v1", "Deployment"));
    }

    [Fact]
    public void ResourceKind_Find_matches_api_version_and_kind_exactly()
    {
        var settings = new CachierSettings(new CachierOptions());

        Assert.Equal("deployments", ResourceKind.Find(settings.Kinds, "apps/v1", "Deployment")?.Plural);
        Assert.Null(ResourceKind.Find(settings.Kinds, "apps/v1", "deployment"));
        Assert.Null(ResourceKind.Find(settings.Kinds, "extensions/v1beta1", "Deployment"));
        Assert.Null(ResourceKind.Find(settings.Kinds, "v1", "Secret"));
    }

    [Fact]
    public void Validator_accepts_the_defaults_once_the_senders_are_named() =>
        Assert.True(new CachierOptionsValidator().Validate(null, new CachierOptions
        {
            Authentication = { Audience = "cachier", AllowedSubjects = ["system:serviceaccount:cachier-system:source"] },
        }).Succeeded);

    [Fact]
    public void Validator_refuses_the_defaults_because_authentication_is_on_and_names_no_sender()
    {
        var result = new CachierOptionsValidator().Validate(null, new CachierOptions());

        Assert.False(result.Succeeded);
        Assert.Contains("Cachier:Authentication:Audience", result.FailureMessage);
        Assert.Contains("Cachier:Authentication:AllowedSubjects", result.FailureMessage);
        Assert.Contains("Cachier:Authentication:Mode=None", result.FailureMessage);
    }

    [Theory]
    [InlineData("Deployment.V1.apps")]
    [InlineData("Deployment")]
    [InlineData("Foo.v1.bad_group")]
    public void Validator_names_a_bad_resource(string resource)
    {
        var result = new CachierOptionsValidator().Validate(null, new CachierOptions { Resources = ["Job.v1.batch", resource] });

        Assert.True(result.Failed);
        Assert.Contains($"'{resource}'", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Validator_names_a_bad_resource_inside_a_comma_separated_value()
    {
        var result = new CachierOptionsValidator().Validate(null, new CachierOptions { Resources = ["Job.v1.batch,Deploy-ment.v1.apps"] });

        Assert.True(result.Failed);
        Assert.Contains("'Deploy-ment.v1.apps'", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Validator_names_a_bad_include_pattern()
    {
        var result = new CachierOptionsValidator().Validate(null, new CachierOptions { IncludeImages = ["^ghcr\\.io/", "(unclosed"] });

        Assert.True(result.Failed);
        Assert.Contains("'(unclosed'", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Validator_names_a_bad_exclude_pattern()
    {
        var result = new CachierOptionsValidator().Validate(null, new CachierOptions { ExcludeImages = ["[a-"] });

        Assert.True(result.Failed);
        Assert.Contains("'[a-'", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Validator_names_a_bad_excluded_namespace()
    {
        var result = new CachierOptionsValidator().Validate(null, new CachierOptions { ExcludedNamespaces = ["kube-system", "Bad_NS"] });

        Assert.True(result.Failed);
        Assert.Contains("'Bad_NS'", result.FailureMessage, StringComparison.Ordinal);
        Assert.DoesNotContain("'kube-system'", result.FailureMessage, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("-00:00:01")]
    [InlineData("01:00:01")]
    public void Validator_names_a_bad_owner_cache_ttl(string ttl)
    {
        var result = new CachierOptionsValidator().Validate(null, new CachierOptions { Warmer = { OwnerCacheTtl = TimeSpan.Parse(ttl, CultureInfo.InvariantCulture) } });

        Assert.True(result.Failed);
        Assert.Contains($"Cachier:Warmer:OwnerCacheTtl must be 0 (off) up to an hour, not {ttl}", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Image_filters_include_then_exclude()
    {
        var filters = new CachierSettings(new CachierOptions { IncludeImages = ["^ghcr\\.io/"], ExcludeImages = [":latest$"] }).Filters;

        Assert.True(filters.Allows("ghcr.io/acme/api:1"));
        Assert.False(filters.Allows("ghcr.io/acme/api:latest"));
        Assert.False(filters.Allows("docker.io/library/nginx:1"));
        Assert.True(ImageFilters.None.Allows("anything"));
    }
}
