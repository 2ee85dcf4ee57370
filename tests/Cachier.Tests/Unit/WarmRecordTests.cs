using Cachier.Domain;
using Cachier.Kubernetes;

namespace Cachier.Tests.Unit;

/// <summary>The per-node records in an Image's <c>status.annotations</c> and the retry backoff (SPEC 11: retries back off).</summary>
public class WarmRecordTests
{
    private static readonly DateTimeOffset Noon = new(2026, 11, 30, 12, 0, 0, TimeSpan.Zero);

    public static TheoryData<NodeRecord, string> Records() => new()
    {
        { new NodeRecord("Pulled", Noon), "Pulled 2026-11-30T12:00:00Z" },
        { new NodeRecord("Pulling", Noon, 2), "Pulling 2026-11-30T12:00:00Z x2" },
        { new NodeRecord("Queued", Noon.AddSeconds(-59)), "Queued 2026-11-30T11:59:01Z" },
        { new NodeRecord("ErrImagePull", Noon, 1, "not found"), "ErrImagePull 2026-11-30T12:00:00Z x1: not found" },
        { new NodeRecord("PullPodRefused", Noon, 3, "pods \"p\" is forbidden: exceeded quota: pods: x2, 1: 2"), "PullPodRefused 2026-11-30T12:00:00Z x3: pods \"p\" is forbidden: exceeded quota: pods: x2, 1: 2" },
    };

    [Theory]
    [MemberData(nameof(Records))]
    public void Record_formats_as_state_time_attempts_and_message(NodeRecord record, string text)
    {
        Assert.Equal(text, WarmResources.FormatRecord(record));
    }

    [Theory]
    [MemberData(nameof(Records))]
    public void Record_round_trips_through_its_text(NodeRecord record, string text)
    {
        Assert.Equal(record, WarmResources.ParseRecord(text));
        Assert.Equal(record, WarmResources.ParseRecord(WarmResources.FormatRecord(record)));
    }

    [Fact]
    public void Record_is_written_in_utc_to_the_second()
    {
        var local = new DateTimeOffset(2026, 11, 30, 13, 0, 0, TimeSpan.FromHours(1));

        Assert.Equal("Pulled 2026-11-30T12:00:00Z", WarmResources.FormatRecord(new NodeRecord("Pulled", local)));
    }

    [Theory]
    [InlineData("")]
    [InlineData("Pulled")]
    [InlineData("Pulled yesterday")]
    [InlineData("Pulled 2026-11-30 12:00:00")]
    [InlineData(": Pulled 2026-11-30T12:00:00Z")]
    public void Unreadable_record_is_no_record(string text)
    {
        Assert.Null(WarmResources.ParseRecord(text));
    }

    [Fact]
    public void Record_without_a_readable_attempt_count_has_none()
    {
        Assert.Equal(new NodeRecord("Pulled", Noon), WarmResources.ParseRecord("Pulled 2026-11-30T12:00:00Z xx"));
    }

    [Theory]
    [InlineData(0, 30)]
    [InlineData(1, 30)]
    [InlineData(2, 60)]
    [InlineData(3, 120)]
    [InlineData(4, 240)]
    [InlineData(5, 480)]
    [InlineData(6, 600)]
    [InlineData(60, 600)]
    [InlineData(int.MaxValue, 600)]
    public void Backoff_doubles_per_attempt_from_the_base_up_to_the_maximum(int attempts, int seconds)
    {
        var limits = WarmLimits.Default with { RetryBase = TimeSpan.FromSeconds(30), RetryMax = TimeSpan.FromMinutes(10) };

        Assert.Equal(TimeSpan.FromSeconds(seconds), limits.Backoff(attempts));
    }

    [Fact]
    public void Backoff_never_exceeds_the_maximum_even_for_a_huge_base()
    {
        var limits = WarmLimits.Default with { RetryBase = TimeSpan.FromDays(1), RetryMax = TimeSpan.FromDays(3) };

        Assert.Equal(TimeSpan.FromDays(3), limits.Backoff(20));
    }

    /// <summary>The ServiceAccount admission plugin copies the ServiceAccount's pull secrets onto a pod that names none.</summary>
    [Fact]
    public void A_pull_pod_is_matched_by_the_credentials_it_was_made_for_not_by_what_admission_added()
    {
        using var pod = System.Text.Json.JsonDocument.Parse("""
            {"metadata": {"name": "cachier-warm-0123456789", "namespace": "demo", "uid": "u1",
                          "annotations": {"warm.cachier.dev/node": "node-a", "warm.cachier.dev/credentials": "|"}},
             "spec": {"nodeName": "node-a", "serviceAccountName": "default", "imagePullSecrets": [{"name": "sa-secret"}],
                      "containers": [{"name": "warm-0", "image": "nginx:1.25"}]},
             "status": {"phase": "Pending"}}
            """);

        var read = WarmResources.ReadPullPod(pod.RootElement);

        Assert.Equal(new Credentials(null, []), read.Credentials);
        Assert.Equal(Credentials.Parse("sa|s1,s2"), new Credentials("sa", ["s1", "s2"]));
    }
}
