using System.Net;
using System.Net.Sockets;

namespace Cachier.Tests.Support;

/// <summary>Loopback ports for servers the tests start, and for addresses where nothing listens.</summary>
public static class Ports
{
    /// <summary>A port the kernel just handed out and released: free now, for the process about to bind it.</summary>
    public static int Free()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    /// <summary>An address on which nothing listens: connecting to it is refused.</summary>
    public static string ClosedUrl() => $"http://127.0.0.1:{Free()}";
}
