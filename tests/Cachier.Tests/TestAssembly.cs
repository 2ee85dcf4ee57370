using System.Runtime.CompilerServices;

namespace Cachier.Tests;

internal static class TestAssembly
{
    /// <summary>
    /// Many in-process hosts, fake API servers and kubectl processes run side by side here, and WebApplicationFactory
    /// starts its hosts synchronously on pool threads. With the default minimum (one thread per core, 2 on CI) the pool
    /// adds threads only slowly when they are all blocked, so a timer continuation can run hundreds of milliseconds
    /// late, and the tests that check Cachier's retry timing against a sender's budget would measure the test runner
    /// rather than Cachier. Real deliveries do not share Cachier's pool with any of this.
    /// </summary>
    [ModuleInitializer]
    internal static void Initialize()
    {
        ThreadPool.GetMinThreads(out var workers, out var io);
        ThreadPool.SetMinThreads(Math.Max(workers, 32), Math.Max(io, 32));
    }
}
