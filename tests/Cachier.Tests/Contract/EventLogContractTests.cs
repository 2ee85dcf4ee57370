using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Cachier.Http;
using CloudNative.CloudEvents;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;
using static Cachier.Tests.Support.AppHost;
using static Cachier.Tests.Support.CloudEvents;
using static Cachier.Tests.Support.Objects;

namespace Cachier.Tests.Contract;

/// <summary>
/// One structured log line per handled event; it carries the event's W3C <c>traceparent</c> (the CloudEvents distributed
/// tracing extension) when the event has one, and nothing for it when not.
/// </summary>
public sealed class EventLogContractTests
{
    private const string Trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    [Fact]
    public async Task Log_line_of_a_structured_event_carries_its_traceparent_extension()
    {
        var lines = new LogCapture();
        using var host = StartIgnoring(lines);
        var ev = JsonNode.Parse(Sample("03-ref-update.structured.json"))!.AsObject();
        ev["traceparent"] = Trace;

        await OutcomeAsync(await host.SendStructuredAsync(ev.ToJsonString()));

        var line = Assert.Single(lines.Events);
        Assert.Equal(Trace, line.Fields.GetValueOrDefault("TraceParent"));
        Assert.EndsWith($"traceparent {Trace}", line.Message);
    }

    [Fact]
    public async Task Log_line_of_a_binary_event_carries_the_traceparent_header()
    {
        var lines = new LogCapture();
        using var host = StartIgnoring(lines);
        using var request = CloudEvents.Ref("update", "apps/v1", "Deployment", Ns, "web");
        request.Headers.Add("traceparent", Trace);

        await OutcomeAsync(await host.Client.SendAsync(request));

        Assert.Equal(Trace, Assert.Single(lines.Events).Fields.GetValueOrDefault("TraceParent"));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 Outcome=forged")]
    [InlineData("00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01")]
    [InlineData("not a traceparent")]
    public async Task Log_line_has_no_traceparent_field_when_the_event_has_none_or_a_malformed_one(string? traceparent)
    {
        var lines = new LogCapture();
        using var host = StartIgnoring(lines);
        var ev = JsonNode.Parse(Sample("03-ref-update.structured.json"))!.AsObject();
        if (traceparent is not null)
        {
            ev["traceparent"] = traceparent;
        }

        await OutcomeAsync(await host.SendStructuredAsync(ev.ToJsonString()));

        var line = Assert.Single(lines.Events);
        Assert.False(line.Fields.ContainsKey("TraceParent"), line.Message);
        Assert.DoesNotContain("traceparent", line.Message);
    }

    [Fact]
    public void Reading_an_absent_traceparent_allocates_nothing()
    {
        var ev = new CloudEvent { Id = "1", Source = new Uri("https://10.96.0.1:443"), Type = "dev.knative.apiserver.ref.update" };
        EventParser.TraceParent(ev);

        var before = GC.GetAllocatedBytesForCurrentThread();
        var trace = EventParser.TraceParent(ev);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Null(trace);
        Assert.Equal(0, allocated);
    }

    /// <summary>The app with the event's kind not configured: the event is handled (ignored) with no API call.</summary>
    private static AppHost StartIgnoring(LogCapture lines) =>
        Start(null, web => web.ConfigureLogging(logging => logging.AddProvider(lines)), ("Resources", "StatefulSet.v1.apps"));

    private sealed record Line(EventId Id, string Message, IReadOnlyDictionary<string, string?> Fields);

    /// <summary>The pipeline's log lines with their structured fields, as a JSON formatter would write them.</summary>
    private sealed class LogCapture : ILoggerProvider
    {
        private readonly ConcurrentQueue<Line> _lines = new();

        public IReadOnlyList<Line> Events => [.. _lines];

        public ILogger CreateLogger(string categoryName) =>
            categoryName == typeof(EventPipeline).FullName ? new Logger(_lines) : Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;

        public void Dispose()
        {
        }

        private sealed class Logger(ConcurrentQueue<Line> lines) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                var fields = state is IReadOnlyList<KeyValuePair<string, object?>> pairs
                    ? pairs.ToDictionary(p => p.Key, p => p.Value?.ToString())
                    : [];
                lines.Enqueue(new Line(eventId, formatter(state, exception), fields));
            }
        }
    }
}
