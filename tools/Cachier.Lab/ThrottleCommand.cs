using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Cachier.Lab;

/// <summary>
/// <c>cachier-lab throttle</c>: a TCP proxy whose connections all draw from one token bucket, so everything that goes
/// through it together moves at most <c>--rate</c> bytes per second (both directions count). The local cluster puts
/// it in front of the local registry, so a pull through its port is visibly slow without touching the loopback
/// device (tc would slow everything on it).
/// </summary>
public static class ThrottleCommand
{
    private const string Help = """
        usage: cachier-lab throttle --listen HOST:PORT --target HOST:PORT [--rate RATE] [--label TEXT]

        A TCP proxy limited to RATE bytes per second for all its connections together (one token bucket).
          --listen HOST:PORT  where to accept connections (an IP address; port 0 picks a free port)
          --target HOST:PORT  where to forward them
          --rate RATE         bytes per second: a number with an optional unit B, KB, MB, GB (1000s) or
                              KiB, MiB, GiB (1024s); default 25MB
          --label TEXT        ignored; names the instance in the process list (the local cluster passes its state folder)
        Prints "listening on HOST:PORT" once it accepts connections; stops on SIGTERM or Ctrl-C.
        """;

    public static async Task<int> RunAsync(string[] args)
    {
        IPEndPoint? listen = null, target = null;
        var rate = 25_000_000L;
        try
        {
            for (var i = 0; i < args.Length; i++)
            {
                string Value() => i + 1 < args.Length ? args[++i] : throw new FormatException($"{args[i]} needs a value");
                switch (args[i])
                {
                    case "-h" or "--help":
                        Console.WriteLine(Help);
                        return 0;
                    case "--listen":
                        listen = IPEndPoint.Parse(Value());
                        break;
                    case "--target":
                        target = IPEndPoint.Parse(Value());
                        break;
                    case "--rate":
                        rate = ParseRate(Value());
                        break;
                    case "--label":
                        _ = Value();
                        break;
                    default:
                        throw new FormatException($"unknown option {args[i]}");
                }
            }

            if (listen is null || target is null)
            {
                throw new FormatException("--listen and --target are required");
            }
        }
        catch (FormatException e)
        {
            Console.Error.WriteLine($"cachier-lab throttle: {e.Message}");
            Console.Error.WriteLine(Help);
            return 2;
        }

        using var stop = new CancellationTokenSource();
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });
        using var proxy = new ThrottleProxy(listen, target, new TokenBucket(rate));
        Console.WriteLine($"listening on {proxy.LocalEndPoint}, forwarding to {target} at {rate} bytes/s");
        await proxy.RunAsync(stop.Token);
        return 0;
    }

    /// <summary>Parses "25MB", "1.5MiB", "800KB", "1000" (bytes per second).</summary>
    public static long ParseRate(string text)
    {
        var units = new (string Suffix, long Factor)[]
        {
            ("KiB", 1L << 10), ("MiB", 1L << 20), ("GiB", 1L << 30), ("KB", 1000), ("MB", 1_000_000), ("GB", 1_000_000_000), ("B", 1),
        };
        var (suffix, factor) = units.FirstOrDefault(u => text.EndsWith(u.Suffix, StringComparison.OrdinalIgnoreCase), ("", 1));
        if (!double.TryParse(text.AsSpan(0, text.Length - suffix.Length), NumberStyles.Float, CultureInfo.InvariantCulture, out var number)
            || number * factor < 1)
        {
            throw new FormatException($"--rate: not a positive rate: {text}");
        }

        return (long)(number * factor);
    }
}

/// <summary>
/// A token bucket shared by every caller: <see cref="TakeAsync"/> reserves bytes and waits until the bucket has
/// refilled enough to pay for them (callers go into debt in turn, so waiting is first come, first served).
/// </summary>
public sealed class TokenBucket(long bytesPerSecond, TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly Lock _lock = new();

    // At most 50 ms worth of bytes (and at least one read buffer) may pass in a burst after an idle spell.
    private readonly double _capacity = Math.Max(bytesPerSecond / 20.0, ThrottleProxy.BufferSize);
    private double _tokens = Math.Max(bytesPerSecond / 20.0, ThrottleProxy.BufferSize);
    private long _last = (time ?? TimeProvider.System).GetTimestamp();

    public long BytesPerSecond { get; } = bytesPerSecond;

    /// <summary>How long the caller must wait before sending <paramref name="bytes"/> (the bytes are reserved).</summary>
    public TimeSpan Reserve(int bytes)
    {
        lock (_lock)
        {
            var now = _time.GetTimestamp();
            _tokens = Math.Min(_capacity, _tokens + (_time.GetElapsedTime(_last, now).TotalSeconds * BytesPerSecond));
            _last = now;
            _tokens -= bytes;
            return _tokens >= 0 ? TimeSpan.Zero : TimeSpan.FromSeconds(-_tokens / BytesPerSecond);
        }
    }

    public Task TakeAsync(int bytes, CancellationToken cancel)
    {
        var wait = Reserve(bytes);
        return wait == TimeSpan.Zero ? Task.CompletedTask : Task.Delay(wait, _time, cancel);
    }
}

/// <summary>Accepts connections on one endpoint and copies bytes both ways to a target, through a shared bucket.</summary>
public sealed class ThrottleProxy : IDisposable
{
    public const int BufferSize = 16 * 1024;

    private readonly Socket _listener;
    private readonly IPEndPoint _target;
    private readonly TokenBucket _bucket;

    public ThrottleProxy(IPEndPoint listen, IPEndPoint target, TokenBucket bucket)
    {
        _target = target;
        _bucket = bucket;
        _listener = new Socket(listen.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        _listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        _listener.Bind(listen);
        _listener.Listen(128);
    }

    /// <summary>The bound address (the real port when asked for port 0).</summary>
    public IPEndPoint LocalEndPoint => (IPEndPoint)_listener.LocalEndPoint!;

    /// <summary>Accepts and serves connections until <paramref name="cancel"/> fires.</summary>
    public async Task RunAsync(CancellationToken cancel)
    {
        var connections = new List<Task>();
        try
        {
            while (true)
            {
                var client = await _listener.AcceptAsync(cancel);
                connections.RemoveAll(t => t.IsCompleted);
                connections.Add(ServeAsync(client, cancel));
            }
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
        }

        await Task.WhenAll(connections);
    }

    private async Task ServeAsync(Socket client, CancellationToken cancel)
    {
        using (client)
        using (var upstream = new Socket(_target.AddressFamily, SocketType.Stream, ProtocolType.Tcp))
        {
            try
            {
                client.NoDelay = upstream.NoDelay = true;
                await upstream.ConnectAsync(_target, cancel);
                // Each direction ends by passing the end of its stream on (half-close); the other may still run.
                await Task.WhenAll(CopyAsync(client, upstream, cancel), CopyAsync(upstream, client, cancel));
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // A peer went away or the proxy stops: closing both sockets (using) ends the other direction too.
            }
        }
    }

    private async Task CopyAsync(Socket from, Socket to, CancellationToken cancel)
    {
        var buffer = new byte[BufferSize];
        try
        {
            int read;
            while ((read = await from.ReceiveAsync(buffer, SocketFlags.None, cancel)) > 0)
            {
                await _bucket.TakeAsync(read, cancel);
                for (var sent = 0; sent < read;)
                {
                    sent += await to.SendAsync(buffer.AsMemory(sent, read - sent), SocketFlags.None, cancel);
                }
            }

            to.Shutdown(SocketShutdown.Send);
        }
        catch
        {
            // Abort both: the other direction's pending receive ends with an error instead of waiting forever.
            from.Close();
            to.Close();
            throw;
        }
    }

    public void Dispose() => _listener.Dispose();
}
