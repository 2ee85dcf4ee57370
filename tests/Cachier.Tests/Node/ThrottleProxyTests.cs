using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Cachier.Lab;

namespace Cachier.Tests.Node;

/// <summary><c>cachier-lab throttle</c>, the node lab's bandwidth-limited registry path, in process (no node needed).</summary>
[Trait("Tier", "Node")]
public sealed class ThrottleProxyTests
{
    [Fact]
    public async Task Bytes_pass_through_unchanged_both_ways_and_the_end_of_stream_is_passed_on()
    {
        // An echo server: sends back everything it reads, then closes when the client has finished sending.
        using var echo = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        echo.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        echo.Listen();
        var served = Task.Run(async () =>
        {
            using var peer = await echo.AcceptAsync();
            var buffer = new byte[8192];
            int read;
            while ((read = await peer.ReceiveAsync(buffer)) > 0)
            {
                await peer.SendAsync(buffer.AsMemory(0, read));
            }

            peer.Shutdown(SocketShutdown.Send);
        });
        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        using var proxy = new ThrottleProxy(new IPEndPoint(IPAddress.Loopback, 0), (IPEndPoint)echo.LocalEndPoint!, new TokenBucket(1L << 30));
        var running = proxy.RunAsync(stop.Token);
        var payload = RandomNumberGenerator.GetBytes(3 * 1024 * 1024 + 17);

        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(proxy.LocalEndPoint, stop.Token);
        var sending = Task.Run(async () =>
        {
            await client.SendAsync(payload, stop.Token);
            client.Shutdown(SocketShutdown.Send);
        });
        using var received = new MemoryStream();
        var chunk = new byte[65536];
        int n;
        while ((n = await client.ReceiveAsync(chunk, SocketFlags.None, stop.Token)) > 0)
        {
            received.Write(chunk, 0, n);
        }

        await sending;
        await served;
        Assert.Equal(SHA256.HashData(payload), SHA256.HashData(received.ToArray()));
        Assert.Equal(payload.Length, received.Length);
        await stop.CancelAsync();
        await running;
    }

    [Fact]
    public void The_bucket_lets_a_burst_pass_then_charges_the_rate()
    {
        var time = new ManualTime();
        var bucket = new TokenBucket(1_000_000, time);

        Assert.Equal(TimeSpan.Zero, bucket.Reserve(50_000));
        Assert.Equal(TimeSpan.FromSeconds(0.5), bucket.Reserve(500_000));
        time.Advance(TimeSpan.FromSeconds(0.5));
        Assert.Equal(TimeSpan.FromSeconds(0.25), bucket.Reserve(250_000));
    }

    [Theory]
    [InlineData("25MB", 25_000_000)]
    [InlineData("1.5MiB", 1_572_864)]
    [InlineData("800kb", 800_000)]
    [InlineData("1000", 1000)]
    [InlineData("2GB", 2_000_000_000)]
    public void Rates_read_decimal_and_binary_units(string text, long bytesPerSecond) =>
        Assert.Equal(bytesPerSecond, ThrottleCommand.ParseRate(text));

    [Theory]
    [InlineData("fast")]
    [InlineData("0")]
    [InlineData("-1MB")]
    public void Bad_rates_are_refused(string text) => Assert.Throws<FormatException>(() => ThrottleCommand.ParseRate(text));

    private sealed class ManualTime : TimeProvider
    {
        private long _ticks;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => _ticks;

        public void Advance(TimeSpan by) => _ticks += by.Ticks;
    }
}
