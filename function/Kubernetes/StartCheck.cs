using Cachier.Diagnostics;
using Cachier.Reconcile;

namespace Cachier.Kubernetes;

/// <summary>
/// At start, as soon as the connection is made: one GET of the Image API's discovery document
/// (<c>/apis/caching.internal.knative.dev/v1alpha1</c>, readable by every authenticated identity). It tells the operator
/// at start, not at the first event, when the Image CRD is not installed, the credentials are refused or the API server
/// does not answer; and it opens the connection's first TLS session beside the start, so that a first event after a scale
/// from zero does not pay for it (bench/RESULTS.md, section 3). It never fails the start: the API server may come up
/// later, and each event's own calls report their failures.
/// </summary>
public sealed class StartCheck(KubeConnectionSource source, KubeApi api, ILogger<StartCheck> logger) : IHostedService
{
    public const string Path = KubeApi.ImagesRoot;

    // Never disposed: the host may stop its services again after disposing them, and a source without a timer holds nothing.
    private readonly CancellationTokenSource _stopping = new();

    /// <summary>The check's run: done when it has been logged (tests wait for it).</summary>
    public Task Completion { get; private set; } = Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        Completion = RunAsync(_stopping.Token);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        await Completion.WaitAsync(cancellationToken);
    }

    /// <summary>
    /// Null when the Image API is served; else what is wrong, and how loud to say it. The GET is an ordinary call of
    /// <see cref="KubeApi"/>: its timeout, bounded retry, credentials re-read on 401 and metric.
    /// </summary>
    public static async Task<(LogLevel Level, string Message)?> CheckAsync(KubeApi api, CancellationToken ct)
    {
        try
        {
            await api.GetImageApiAsync(ct);
            return null;
        }
        catch (ApiException e) when (e.StatusCode is { } status)
        {
            return status switch
            {
                404 => (LogLevel.Error, $"GET {Path} answered 404: the Image CRD (images.{ImageResources.Group}) is not installed, so no Image can be written until it is"),
                401 => (LogLevel.Error, $"GET {Path} answered 401: the API server refuses Cachier's credentials"),
                403 => (LogLevel.Error, $"GET {Path} answered 403: Cachier's identity may not read the Image API"),
                _ => (LogLevel.Warning, $"GET {Path} answered {status}"),
            };
        }
        catch (ApiException e)
        {
            return (LogLevel.Warning, $"GET {Path} got no answer ({e.Message}); events will wait for the API server");
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
        {
            return null; // the host is stopping
        }
    }

    private async Task RunAsync(CancellationToken ct)
    {
        try
        {
            await source.Connection.WaitAsync(ct);
        }
        catch (Exception) when (source.Connection.IsFaulted || ct.IsCancellationRequested)
        {
            return; // a connection that cannot be made stops the start itself, with its message (KubeConnectionSource)
        }

        if (await CheckAsync(api, ct) is { } problem)
        {
            Log.StartCheckFailed(logger, problem.Level, problem.Message);
        }
    }
}
