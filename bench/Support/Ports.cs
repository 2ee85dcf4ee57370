using System.Net;
using System.Net.Sockets;

namespace Cachier.Bench.Support;

/// <summary>The one free-port finder of the bench (linked into each bench project that starts a server).</summary>
public static class Ports
{
    /// <summary>A loopback port the kernel just handed out and released: free now, for the process about to bind it.</summary>
    public static int Free()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
