using System.Text;
using Cachier.Lab;

namespace Cachier.Tests.Source;

/// <summary>Something that changes now and then; a waiter re-checks its condition at every change, never on a timer.</summary>
public sealed class Signal
{
    private readonly object _gate = new();
    private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Pulse()
    {
        TaskCompletionSource done;
        lock (_gate)
        {
            done = _next;
            _next = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        done.TrySetResult();
    }

    /// <summary>Returns once <paramref name="condition"/> holds; after the bound, <see cref="TimeoutException"/> saying <paramref name="what"/> was awaited.</summary>
    public async Task WaitAsync(Func<bool> condition, TimeSpan timeout, Func<string> what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            Task next;
            lock (_gate)
            {
                next = _next.Task;
            }

            if (condition())
            {
                return;
            }

            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
            {
                throw new TimeoutException($"still waiting after {timeout.TotalSeconds:0} s for {what()}");
            }

            try
            {
                await next.WaitAsync(left);
            }
            catch (TimeoutException)
            {
            }
        }
    }
}

public static class FakeKubeconfig
{
    /// <summary>A kubeconfig (a new temporary file) for a fake API server at <paramref name="url"/> with token <c>lab</c>.</summary>
    public static string Write(string url)
    {
        var path = Path.GetTempFileName();
        File.WriteAllText(path, $$$"""
            apiVersion: v1
            kind: Config
            clusters: [{name: fake, cluster: {server: '{{{url}}}'}}]
            users: [{name: u, user: {token: lab}}]
            contexts: [{name: c, context: {cluster: fake, user: u}}]
            current-context: c
            """);
        return path;
    }
}

/// <summary>The stand-in's output, line by line, with a signal per line.</summary>
public sealed class LineLog : TextWriter
{
    private readonly StringBuilder _partial = new();
    private readonly List<string> _lines = [];

    public Signal Changed { get; } = new();

    public override Encoding Encoding => Encoding.UTF8;

    public IReadOnlyList<string> Lines
    {
        get
        {
            lock (_lines)
            {
                return [.. _lines];
            }
        }
    }

    public override void Write(char value)
    {
        lock (_lines)
        {
            if (value != '\n')
            {
                _partial.Append(value);
                return;
            }

            _lines.Add(_partial.ToString().TrimEnd('\r'));
            _partial.Clear();
        }

        Changed.Pulse();
    }

    public Task WaitForAsync(Func<string, bool> line, string what, int count = 1, int seconds = 30) =>
        Changed.WaitAsync(() => Lines.Count(line) >= count, TimeSpan.FromSeconds(seconds), () => $"{what}; the stand-in said:\n{this}");

    public override string ToString() => string.Join('\n', Lines);
}

/// <summary>One POST the sink received: headers (case-insensitive names), body, arrival time.</summary>
public sealed record SinkRequest(IReadOnlyDictionary<string, string> Headers, string Body, DateTime Arrived)
{
    public string? this[string header] => Headers.TryGetValue(header, out var value) ? value : null;
}

/// <summary>A CloudEvents sink on WireMock.Net (dynamic port, fresh per test) that answers what the test says and records every request.</summary>
public sealed class RecordingSink : IDisposable
{
    private readonly WireMockServer _server = WireMockServer.Start();
    private readonly List<SinkRequest> _requests = [];

    public RecordingSink(Func<SinkRequest, int>? answer = null)
    {
        Answer = answer ?? (_ => 200);
        _server.Given(Request.Create().UsingAnyMethod()).RespondWith(Response.Create().WithCallback(message =>
        {
            var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (var (name, values) in message.Headers ?? new Dictionary<string, WireMockList<string>>())
            {
                headers[name] = string.Join(",", values);
            }

            var request = new SinkRequest(headers, message.Body ?? "", DateTime.UtcNow);
            var status = Answer(request);
            lock (_requests)
            {
                _requests.Add(request);
            }

            Changed.Pulse();
            return new ResponseMessage
            {
                StatusCode = status,
                BodyData = new BodyData { BodyAsString = "{}", DetectedBodyType = BodyType.String },
            };
        }));
    }

    public string Url => _server.Url! + "/";

    public Func<SinkRequest, int> Answer { get; set; }

    public Signal Changed { get; } = new();

    public IReadOnlyList<SinkRequest> Requests
    {
        get
        {
            lock (_requests)
            {
                return [.. _requests];
            }
        }
    }

    public IReadOnlyList<SinkRequest> OfType(string type) => Requests.Where(r => r["Ce-Type"] == type).ToList();

    public Task WaitForAsync(Func<IReadOnlyList<SinkRequest>, bool> condition, string what, int seconds = 30) =>
        Changed.WaitAsync(() => condition(Requests), TimeSpan.FromSeconds(seconds),
            () => $"{what}; the sink got: {string.Join(", ", Requests.Select(r => $"{r["Ce-Type"]} {r["Ce-Name"]}"))}");

    public void Dispose() => _server.Dispose();
}

/// <summary><c>cachier-lab source</c> run in-process with the given arguments until disposed (as on SIGTERM).</summary>
public sealed class StandIn : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();

    public StandIn(params string[] args)
    {
        Run = Task.Run(() => SourceCommand.RunAsync(args, Log, _stop.Token));
    }

    public LineLog Log { get; } = new();

    /// <summary>The command's run; its exit code.</summary>
    public Task<int> Run { get; }

    /// <summary>Waits until <paramref name="count"/> watches are open: what changes from now on is delivered.</summary>
    public Task WatchingAsync(int count = 1) => WaitForAsync(l => l.Contains(": watching", StringComparison.Ordinal), "the watch to open", count);

    /// <summary>Waits for <paramref name="count"/> log lines that match; fails at once if the command ends first.</summary>
    public async Task WaitForAsync(Func<string, bool> line, string what, int count = 1, int seconds = 30)
    {
        var waiting = Log.WaitForAsync(line, what, count, seconds);
        if (await Task.WhenAny(waiting, Run) == Run)
        {
            throw new InvalidOperationException($"cachier-lab source ended ({await Run}) while waiting for {what}; it said:\n{Log}");
        }

        await waiting;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        Assert.Equal(0, await Run.WaitAsync(TimeSpan.FromSeconds(30)));
        _stop.Dispose();
    }
}
