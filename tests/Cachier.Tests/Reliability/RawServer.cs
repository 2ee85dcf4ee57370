using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Cachier.Tests.Reliability;

/// <summary>
/// A loopback TCP server that misbehaves below HTTP, where WireMock cannot: it reads a request's head, then either
/// resets the connection (RST, "connection reset by peer") or never answers and reports when the client gives up
/// and closes the connection (proof that an outbound call was cancelled).
/// </summary>
public sealed class RawServer : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly bool _reset;
    private readonly TaskCompletionSource _firstRequest = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _clientClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<long> _arrivals = [];
    private int _requests;

    private RawServer(bool reset)
    {
        _reset = reset;
        _listener.Start();
        _ = AcceptLoopAsync();
    }

    /// <summary>Answers every request with a TCP reset.</summary>
    public static RawServer Resetting() => new(reset: true);

    /// <summary>Never answers.</summary>
    public static RawServer Hanging() => new(reset: false);

    public string Url => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

    /// <summary>Request heads received so far.</summary>
    public int Requests => Volatile.Read(ref _requests);

    public Task FirstRequest => _firstRequest.Task;

    /// <summary>Time from the first request head received to the last one (the in-process retry sequence).</summary>
    public TimeSpan Span
    {
        get
        {
            lock (_arrivals)
            {
                return _arrivals.Count < 2 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(_arrivals[0], _arrivals[^1]);
            }
        }
    }

    /// <summary>Completes when a client closed a connection on which a request was waiting for its answer.</summary>
    public Task ClientClosed => _clientClosed.Task;

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _ = ServeAsync(socket);
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        using var _ = socket;
        var buffer = new byte[64 * 1024];
        var head = new StringBuilder();
        try
        {
            while (true)
            {
                var read = await socket.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
                if (read == 0)
                {
                    if (head.Length > 0)
                    {
                        _clientClosed.TrySetResult();
                    }

                    return;
                }

                head.Append(Encoding.Latin1.GetString(buffer, 0, read));
                if (!head.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
                {
                    continue;
                }

                if (head.ToString().StartsWith($"GET {ApiPaths.StartCheckPath} ", StringComparison.Ordinal))
                {
                    // The app's start-up check, not an event's call: answered, not counted.
                    await socket.SendAsync("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"u8.ToArray(), SocketFlags.None, _stop.Token);
                    head.Clear();
                    continue;
                }

                lock (_arrivals)
                {
                    _arrivals.Add(Stopwatch.GetTimestamp());
                }

                Interlocked.Increment(ref _requests);
                _firstRequest.TrySetResult();
                if (_reset)
                {
                    // Linger 0 turns the close into an RST.
                    socket.LingerState = new LingerOption(true, 0);
                    socket.Close();
                    return;
                }

                // Hanging: keep reading (the request body, then nothing) until the client closes.
                head.Clear();
                head.Append("waiting");
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            if (!_reset && !_stop.IsCancellationRequested)
            {
                _clientClosed.TrySetResult();
            }
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        _listener.Dispose();
        _stop.Dispose();
    }
}
