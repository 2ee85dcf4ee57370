using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;

namespace Cachier.Tests.Unit;

/// <summary>
/// The batched console log writes, byte for byte, what Microsoft.Extensions.Logging's console formatters wrote
/// (JSON, and simple on one line, configured as the app configured them), loses no line at shutdown, and counts the
/// lines it drops when stdout is not drained.
/// </summary>
public sealed partial class LineLoggerTests
{
    private const string Category = "Cachier.Reconcile.EventPipeline";

    [GeneratedRegex("\"Timestamp\":\"(\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z)\"")]
    private static partial Regex Timestamp();

    public static TheoryData<string> Formats => ["json", "simple"];

    [Theory]
    [MemberData(nameof(Formats))]
    public void Lines_are_what_the_console_formatter_wrote(string format)
    {
        var (ours, theirs) = Write(format, logger =>
        {
            var outcome = new Outcome(OutcomeResult.Reconciled, "Deployment", "ns", "web", Created: 2, Unchanged: 1);
            Log.Outcome(logger, "dev.knative.apiserver.ref.update", outcome, 1.23456);
            Log.Outcome(logger, "dev.knative.apiserver.ref.update", outcome with { Reason = "quote \" <tag> & 'x' café 日本 \u0001" }, 0.5,
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
            Log.Outcome(logger, "t", new Outcome(OutcomeResult.Failed, Reason: "line one\nline two"), 3);
            Log.Outcome(logger, "t", new Outcome(OutcomeResult.Transient, "Job", "ns", "j", "503"), 3);
            Log.Resynced(logger, "completed", 1000, 2000, 0, 0, 0, "", 6250.5);
            logger.LogInformation(new EventId(14, "Listening"), "Now listening on: {Address}", "http://0.0.0.0:8080");
            logger.LogWarning("Values {Bool} {Char} {Double} {Long} {Null} {Guid} {Date} {Decimal}",
                true, 'c', double.MaxValue, long.MinValue, null, Guid.Empty, new DateTime(2026, 12, 1, 5, 0, 0, DateTimeKind.Utc), 1.5m);
            logger.LogError(Thrown(), "failed: {Reason}", "boom");
            logger.LogCritical(Thrown(), "");
            logger.Log(LogLevel.Debug, new EventId(-5), "plain state", null, (s, _) => s);
        });

        Assert.Equal(Mask(theirs), Mask(ours));
        if (format == "json")
        {
            Assert.All(ours.Split('\n', StringSplitOptions.RemoveEmptyEntries), line => Assert.Matches(Timestamp(), line));
        }
    }

    [Fact]
    public void Every_line_queued_before_dispose_is_written_whole_and_in_order()
    {
        var output = new MemoryStream();
        var writer = new LineWriter(output);
        for (var i = 0; i < 10_000; i++)
        {
            writer.Write(Encoding.UTF8.GetBytes($"line {i}\n"));
        }

        writer.Dispose();

        var lines = Encoding.UTF8.GetString(output.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(Enumerable.Range(0, 10_000).Select(i => $"line {i}"), lines);
        Assert.Equal(0, writer.Dropped);
    }

    [Fact]
    public async Task Lines_are_dropped_and_counted_while_stdout_is_not_drained_and_the_rest_arrive_whole()
    {
        using var stalled = new StalledStream();
        var writer = new LineWriter(stalled);
        var line = Encoding.UTF8.GetBytes(new string('x', 1023) + "\n");
        writer.Write(line);
        await stalled.Entered.WaitAsync(TimeSpan.FromSeconds(10));

        // The writer is stuck in its first write: the next MaxPendingBytes wait, the rest are dropped.
        var sent = 2 * LineWriter.MaxPendingBytes / line.Length;
        for (var i = 0; i < sent; i++)
        {
            writer.Write(line);
        }

        var dropped = writer.Dropped;
        stalled.Release();
        writer.Dispose();

        Assert.Equal(sent - (LineWriter.MaxPendingBytes / line.Length), dropped);
        Assert.Equal((1 + sent - dropped) * line.Length, stalled.Written.Length);
        Assert.All(Encoding.UTF8.GetString(stalled.Written.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries), l => Assert.Equal(1023, l.Length));
    }

    [Fact]
    public void A_line_logged_after_dispose_is_still_written()
    {
        var output = new MemoryStream();
        var writer = new LineWriter(output);
        writer.Dispose();

        writer.Write("late\n"u8);

        Assert.Equal("late\n", Encoding.UTF8.GetString(output.ToArray()));
    }

    /// <summary>Our lines and the console formatter's for the same calls.</summary>
    private static (string Ours, string Theirs) Write(string format, Action<ILogger> log)
    {
        var output = new MemoryStream();
        var provider = new LineLoggerProvider(format == "json" ? LineFormat.Json : LineFormat.Simple, new LineWriter(output));
        log(provider.CreateLogger(Category));
        provider.Dispose();

        // The console formatters as Extensions.AddCachier configures them for the console logger.
        using var services = new ServiceCollection().AddLogging(b => b
            .AddSimpleConsole(o => o.SingleLine = true)
            .AddJsonConsole(o =>
            {
                o.UseUtcTimestamp = true;
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
            })).BuildServiceProvider();
        var formatter = services.GetServices<ConsoleFormatter>().Single(f => f.Name == format);
        var theirs = new StringWriter();
        log(new FormatterLogger(formatter, theirs));
        return (Encoding.UTF8.GetString(output.ToArray()), theirs.ToString());
    }

    private static string Mask(string lines) => Timestamp().Replace(lines, "\"Timestamp\":\"T\"");

    private static InvalidOperationException Thrown()
    {
        try
        {
            throw new InvalidOperationException("outer\nsecond line");
        }
        catch (InvalidOperationException e)
        {
            return e;
        }
    }

    /// <summary>What the console logger does with a formatter: one entry, written to a text writer.</summary>
    private sealed class FormatterLogger(ConsoleFormatter formatter, TextWriter output) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter1) =>
            formatter.Write(new LogEntry<TState>(logLevel, Category, eventId, state, exception, formatter1), null, output);
    }

    /// <summary>A stdout nobody reads: the first write blocks until released.</summary>
    private sealed class StalledStream : Stream
    {
        private readonly ManualResetEventSlim _released = new();
        private readonly TaskCompletionSource _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public MemoryStream Written { get; } = new();

        public Task Entered => _entered.Task;

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => Written.Length;

        public override long Position { get => Written.Position; set => throw new NotSupportedException(); }

        public void Release() => _released.Set();

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            _entered.TrySetResult();
            if (!_released.Wait(TimeSpan.FromSeconds(30)))
            {
                throw new TimeoutException("the test never released the stream");
            }

            lock (Written)
            {
                Written.Write(buffer);
            }
        }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            _released.Dispose();
            base.Dispose(disposing);
        }
    }
}
