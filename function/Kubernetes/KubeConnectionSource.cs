using Cachier.Configuration;
using Cachier.Diagnostics;

namespace Cachier.Kubernetes;

/// <summary>
/// The one <see cref="KubeConnection"/>, made on a thread-pool thread while the host is built and started: reading a
/// kubeconfig and loading OpenSSL take milliseconds that a cold start would otherwise spend before its first event.
/// A configuration that cannot make a connection still stops the start, with its message, when the host starts this
/// service.
/// </summary>
public sealed class KubeConnectionSource : IHostedService, IDisposable
{
    private readonly Task<KubeConnection> _connection;
    private readonly ILogger _logger;
    private readonly string _kinds;

    public KubeConnectionSource(Task<KubeConnection> connecting, CachierSettings settings, ILogger<KubeConnectionSource> logger)
    {
        _connection = connecting;
        _logger = logger;
        _kinds = string.Join(", ", settings.Kinds);
    }

    /// <summary>An already made connection (tests).</summary>
    internal KubeConnectionSource(KubeConnection connection, ILogger<KubeConnectionSource> logger)
    {
        _connection = Task.FromResult(connection);
        _logger = logger;
        _kinds = "";
    }

    public Task<KubeConnection> Connection => _connection;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var connection = await _connection.WaitAsync(cancellationToken);
        Log.Started(_logger, _kinds, connection.BaseUrl);
        if (connection.SkipsTlsVerification)
        {
            Log.TlsNotVerified(_logger);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose() =>
        _connection.ContinueWith(t => t.Result.Dispose(), CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
}
