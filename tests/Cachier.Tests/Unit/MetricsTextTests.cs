using System.Diagnostics.Metrics;

namespace Cachier.Tests.Unit;

/// <summary>
/// The Prometheus text of <c>/metrics</c>, from a meter of the test's own (Cachier's instruments are shared by every host
/// of the test run): the series names, labels, histogram lines and the series bound that dashboards and alerts rely on.
/// </summary>
public sealed class MetricsTextTests : IDisposable
{
    private readonly Meter _meter = new($"cachier-test-{Guid.NewGuid():N}");
    private readonly MetricsText _text;

    public MetricsTextTests() => _text = new MetricsText(_meter.Name);

    public void Dispose()
    {
        _text.Dispose();
        _meter.Dispose();
    }

    [Fact]
    public void A_counter_is_NAME_total_with_its_labels_in_name_order_after_the_scope()
    {
        var counter = _meter.CreateCounter<long>("cachier.events.handled", "{event}", "CloudEvents handled");

        counter.Add(2, new("type", "dev.knative.apiserver.ref.update"), new("outcome", "reconciled"));
        counter.Add(1, new("type", "dev.knative.apiserver.ref.update"), new("outcome", "reconciled"));
        counter.Add(1, new("type", "dev.knative.apiserver.ref.add"), new("outcome", "ignored"));

        var lines = Lines();
        Assert.Equal("# TYPE cachier_events_handled_total counter", lines[0]);
        Assert.Equal("# HELP cachier_events_handled_total CloudEvents handled", lines[1]);
        Assert.Contains($"cachier_events_handled_total{{otel_scope_name=\"{_meter.Name}\",outcome=\"reconciled\",type=\"dev.knative.apiserver.ref.update\"}} 3", lines);
        Assert.Contains($"cachier_events_handled_total{{otel_scope_name=\"{_meter.Name}\",outcome=\"ignored\",type=\"dev.knative.apiserver.ref.add\"}} 1", lines);
        Assert.Equal(4, lines.Length);
    }

    [Fact]
    public void A_duration_is_a_seconds_histogram_with_cumulative_buckets_sum_and_count()
    {
        var histogram = _meter.CreateHistogram<double>("cachier.event.duration", "s", "Time to handle one CloudEvent");

        histogram.Record(0.001, new KeyValuePair<string, object?>("outcome", "gone")); // on a boundary: counted in it (le)
        histogram.Record(0.2, new KeyValuePair<string, object?>("outcome", "gone"));
        histogram.Record(1000, new KeyValuePair<string, object?>("outcome", "gone")); // above every boundary

        var lines = Lines();
        var series = $"otel_scope_name=\"{_meter.Name}\",outcome=\"gone\"";
        Assert.Equal("# TYPE cachier_event_duration_seconds histogram", lines[0]);
        Assert.Contains($"cachier_event_duration_seconds_bucket{{{series},le=\"0.001\"}} 1", lines);
        Assert.Contains($"cachier_event_duration_seconds_bucket{{{series},le=\"0.1\"}} 1", lines);
        Assert.Contains($"cachier_event_duration_seconds_bucket{{{series},le=\"0.25\"}} 2", lines);
        Assert.Contains($"cachier_event_duration_seconds_bucket{{{series},le=\"300\"}} 2", lines);
        Assert.Contains($"cachier_event_duration_seconds_bucket{{{series},le=\"+Inf\"}} 3", lines);
        Assert.Contains($"cachier_event_duration_seconds_sum{{{series}}} 1000.201", lines);
        Assert.Contains($"cachier_event_duration_seconds_count{{{series}}} 3", lines);
        Assert.Equal(2 + Telemetry.SecondsBuckets.Length + 1 + 2, lines.Length);
    }

    [Fact]
    public void A_label_value_a_sender_chose_is_escaped()
    {
        var counter = _meter.CreateCounter<long>("cachier.events.handled", "{event}", "CloudEvents handled");

        counter.Add(1, new KeyValuePair<string, object?>("type", "a\"b\\c\nd"));

        Assert.Contains($"cachier_events_handled_total{{otel_scope_name=\"{_meter.Name}\",type=\"a\\\"b\\\\c\\nd\"}} 1", Lines());
    }

    [Fact]
    public void Past_the_series_bound_every_new_label_set_is_summed_in_one_overflow_series()
    {
        var counter = _meter.CreateCounter<long>("cachier.events.handled", "{event}", "CloudEvents handled");

        for (var i = 0; i < Telemetry.MaxSeries + 50; i++)
        {
            counter.Add(1, new KeyValuePair<string, object?>("type", $"made-up-{i}"));
        }

        var series = Lines().Where(l => l.StartsWith("cachier_events_handled_total{", StringComparison.Ordinal)).ToList();
        Assert.Equal(Telemetry.MaxSeries + 1, series.Count);
        Assert.Contains($"cachier_events_handled_total{{otel_scope_name=\"{_meter.Name}\",otel_metric_overflow=\"true\"}} 50", series);
    }

    [Fact]
    public void An_instrument_not_measured_yet_and_another_meter_are_left_out()
    {
        _meter.CreateCounter<long>("cachier.images.written", "{image}", "Images written");
        using var other = new Meter($"other-{Guid.NewGuid():N}");
        other.CreateCounter<long>("other.requests").Add(1);

        Assert.Empty(Lines());
    }

    private string[] Lines() => _text.Render().Split('\n', StringSplitOptions.RemoveEmptyEntries);
}
