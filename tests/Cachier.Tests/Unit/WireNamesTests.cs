namespace Cachier.Tests.Unit;

/// <summary>The wire spelling of outcomes and results (log lines, metric labels, JSON answers), and the API resource label.</summary>
public sealed class WireNamesTests
{
    [Theory]
    [InlineData(OutcomeResult.Reconciled, "reconciled")]
    [InlineData(OutcomeResult.NotOwned, "not-owned")]
    [InlineData(OutcomeResult.Transient, "transient")]
    [InlineData(ResyncResult.Partial, "partial")]
    public void Name_is_the_kebab_case_of_the_value<T>(T value, string expected)
        where T : struct, Enum => Assert.Equal(expected, value.Name());

    [Fact]
    public void Every_outcome_has_a_distinct_spelling_that_reads_back()
    {
        var names = Enum.GetValues<OutcomeResult>().Select(r => r.Name()).ToList();

        Assert.Equal(names.Count, names.Distinct().Count());
        Assert.All(Enum.GetValues<OutcomeResult>(), r =>
        {
            var reader = new System.Text.Json.Utf8JsonReader(System.Text.Encoding.UTF8.GetBytes($"\"{r.Name()}\""));
            reader.Read();
            Assert.Equal(r, new KebabEnumJson<OutcomeResult>().Read(ref reader, typeof(OutcomeResult), System.Text.Json.JsonSerializerOptions.Default));
        });
    }

    [Fact]
    public void Name_allocates_nothing_per_call()
    {
        OutcomeResult.NotOwned.Name();

        var before = GC.GetAllocatedBytesForCurrentThread();
        var name = OutcomeResult.NotOwned.Name();
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal("not-owned", name);
        Assert.Equal(0, allocated);
    }

    [Theory]
    [InlineData("/apis/caching.internal.knative.dev/v1alpha1/namespaces/ns/images", "images")]
    [InlineData("/apis/caching.internal.knative.dev/v1alpha1/namespaces/ns/images/web-7ad51f70f8", "images")]
    [InlineData("/apis/caching.internal.knative.dev/v1alpha1/images?labelSelector=a%3Db&limit=500", "images")]
    [InlineData("/api/v1/namespaces/ns/events", "events")]
    [InlineData("/api/v1/namespaces/ns/events/web.1", "events")]
    [InlineData("/apis/apps/v1/namespaces/ns/deployments/web", "deployments")]
    [InlineData("/apis/batch/v1beta1/cronjobs?limit=500", "cronjobs")]
    [InlineData("/api/v1/nodes", "nodes")]
    [InlineData("/api/v1/nodes/node-a", "nodes")]
    [InlineData("/api/v1/namespaces/ns/pods/pull-1", "pods")]
    [InlineData("/api/v1/namespaces", "namespaces")]
    [InlineData("/api/v1/namespaces/ns", "namespaces")]
    [InlineData("/apis/example.com/v1/namespaces/ns/widgets/w", "other")]
    [InlineData("/apis/apps/v1", "discovery")]
    [InlineData("/.well-known/openid-configuration", "discovery")]
    [InlineData("/openid/v1/jwks", "discovery")]
    public void Api_resource_label_names_the_resource_of_the_path_from_a_fixed_set(string path, string expected) =>
        Assert.Equal(expected, Telemetry.ApiResource(path));
}
