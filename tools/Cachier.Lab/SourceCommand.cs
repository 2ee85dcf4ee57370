using System.Globalization;
using System.Runtime.InteropServices;

namespace Cachier.Lab;

/// <summary><c>cachier-lab source</c>: the ApiServerSource and PingSource stand-in (see <see cref="SourceOptions.Help"/>).</summary>
public static class SourceCommand
{
    public static async Task<int> RunAsync(string[] args)
    {
        using var stop = new CancellationTokenSource();
        void Stop(PosixSignalContext context)
        {
            context.Cancel = true;
            stop.Cancel();
        }

        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        return await RunAsync(args, Console.Out, stop.Token);
    }

    /// <summary>Runs until <paramref name="ct"/> is cancelled; 0 then, 2 for bad arguments.</summary>
    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter log, CancellationToken ct)
    {
        SourceOptions options;
        try
        {
            options = SourceOptions.Parse(args);
        }
        catch (FormatException e)
        {
            await Console.Error.WriteLineAsync($"cachier-lab source: {e.Message} (see --help)");
            return 2;
        }

        if (options.ShowHelp)
        {
            await Console.Out.WriteAsync(SourceOptions.Help);
            return 0;
        }

        var needsApi = options.Resources.Count > 0 || options.ServiceAccount is not null;
        using var api = needsApi ? new ApiServer(KubeconfigPath(options)) : null;
        ITokenSource? tokens = options switch
        {
            { TokenFile: { } file } => new FileToken(file),
            { ServiceAccount: var (ns, name), Audience: { } audience } => new ServiceAccountToken(api!, ns, name, audience, TimeSpan.FromHours(1)),
            _ => null,
        };

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var sink = new Sink(http, options.Sink!, options.SourceNamespace, tokens, log);
        var work = options.Resources
            .Select(resource => new ResourceWatcher(api!, resource, options.Namespace, async (type, obj, token) =>
            {
                if (AdapterEvents.FromWatch(type, obj, options.Mode, api!.Host) is { } e)
                {
                    await sink.DeliverAsync(e, token);
                }
            }, log).RunAsync(ct))
            .ToList();
        if (options.PingEvery is not null || options.PingNow)
        {
            var pingSink = options.PingSink is { } url ? new Sink(http, url, options.SourceNamespace, tokens, log) : sink;
            work.Add(PingAsync(pingSink, options, ct));
        }

        try
        {
            await Task.WhenAll(work);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }

        return 0;
    }

    /// <summary>The PingSource's schedule: one tick every period (after one at start with --ping-now).</summary>
    private static async Task PingAsync(Sink sink, SourceOptions options, CancellationToken ct)
    {
        if (options.PingNow)
        {
            await sink.DeliverAsync(AdapterEvents.Ping(options.SourceNamespace, options.SourceName), ct);
        }

        if (options.PingEvery is not { } every)
        {
            return;
        }

        using var timer = new PeriodicTimer(every);
        while (await timer.WaitForNextTickAsync(ct))
        {
            await sink.DeliverAsync(AdapterEvents.Ping(options.SourceNamespace, options.SourceName), ct);
        }
    }

    private static string KubeconfigPath(SourceOptions options) =>
        options.Kubeconfig
        ?? (Environment.GetEnvironmentVariable("KUBECONFIG") is { Length: > 0 } env ? env.Split(':')[0] : null)
        ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".kube", "config");
}
