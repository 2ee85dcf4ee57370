using Cachier.Domain;
using Cachier.Reconcile;

namespace Cachier.Diagnostics;

/// <summary>Source-generated, structured log lines, keyed by {Namespace}/{Name}.</summary>
public static partial class Log
{
    [LoggerMessage(1, LogLevel.Information, "{Type} {Kind} {Namespace}/{Name}: {Outcome} (created {Created}, updated {Updated}, deleted {Deleted}, unchanged {Unchanged}) in {DurationMs} ms{Reason}")]
    public static partial void Handled(ILogger logger, string type, string? kind, string? @namespace, string? name, string outcome,
        int created, int updated, int deleted, int unchanged, double durationMs, string reason);

    [LoggerMessage(2, LogLevel.Warning, "{Type} {Kind} {Namespace}/{Name}: transient API failure, asking the sender to retry: {Reason}")]
    public static partial void Transient(ILogger logger, string type, string? kind, string? @namespace, string? name, string? reason);

    [LoggerMessage(3, LogLevel.Error, "{Type} {Kind} {Namespace}/{Name}: failed: {Reason}")]
    public static partial void Failed(ILogger logger, string type, string? kind, string? @namespace, string? name, string? reason);

    [LoggerMessage(4, LogLevel.Warning, "{Kind} {Namespace}/{Name}: Images of the same name belong to another owner, left alone: {Images}")]
    public static partial void NotOwned(ILogger logger, string? kind, string? @namespace, string? name, string images);

    [LoggerMessage(5, LogLevel.Warning, "Rejected a request with {Status}: {Reason}")]
    public static partial void Rejected(ILogger logger, int status, string reason);

    [LoggerMessage(6, LogLevel.Information, "Resync {Result}: {Workloads} workloads, created {Created}, updated {Updated}, deleted {Deleted}, failed {Failed}, skipped kinds [{SkippedKinds}] in {DurationMs} ms")]
    public static partial void Resynced(ILogger logger, string result, int workloads, int created, int updated, int deleted, int failed, string skippedKinds, double durationMs);

    [LoggerMessage(7, LogLevel.Warning, "Resync: kind {Kind} is not served by the API server, skipped: {Reason}")]
    public static partial void KindNotServed(ILogger logger, string kind, string reason);

    [LoggerMessage(8, LogLevel.Warning, "Resync: {Kind} {Namespace}/{Name}: {Outcome}: {Reason}")]
    public static partial void ResyncFailure(ILogger logger, string? kind, string? @namespace, string? name, string outcome, string? reason);

    [LoggerMessage(9, LogLevel.Information, "Cachier watching {Kinds}; API server {Server}")]
    public static partial void Started(ILogger logger, string kinds, string server);

    [LoggerMessage(10, LogLevel.Warning, "Refused a sender with {Status}: {Reason}")]
    public static partial void SenderRefused(ILogger logger, int status, string reason);

    [LoggerMessage(11, LogLevel.Warning, "Sender authentication is OFF (Cachier:Authentication:Mode=None): anyone who reaches this port can drive Cachier. Use it only for local runs without Knative.")]
    public static partial void AuthenticationOff(ILogger logger);

    [LoggerMessage(12, LogLevel.Information, "Sender authentication on: audience {Audience}, allowed senders {Subjects}")]
    public static partial void AuthenticationOn(ILogger logger, string? audience, string subjects);

    [LoggerMessage(13, LogLevel.Warning, "The API server's TLS certificate is not verified (insecure-skip-tls-verify): anyone on the path can act as the API server")]
    public static partial void TlsNotVerified(ILogger logger);

    [LoggerMessage(14, LogLevel.Warning, "Resync: the LIST of {What} lost its continue token (410), starting it again: {Reason}")]
    public static partial void ListRestarted(ILogger logger, string what, string reason);

    [LoggerMessage(15, LogLevel.Information, "Warm pass {Result}: {Nodes} nodes, {Images} Images, pull pods created {Created}, deleted {Deleted}, statuses written {Statuses}, failed {Failed} in {DurationMs} ms")]
    public static partial void Warmed(ILogger logger, string result, int nodes, int images, int created, int deleted, int statuses, int failed, double durationMs);

    [LoggerMessage(20, LogLevel.Information, "Node {Node}: nothing the warmer reads of it changed since the last pass, which left the cluster settled: no pass ({DurationMs} ms)")]
    public static partial void NodeUnchanged(ILogger logger, string node, double durationMs);

    [LoggerMessage(16, LogLevel.Information, "{Type} {Kind} {Namespace}/{Name}: {Outcome} (created {Created}, updated {Updated}, deleted {Deleted}, unchanged {Unchanged}) in {DurationMs} ms{Reason} traceparent {TraceParent}")]
    public static partial void HandledTraced(ILogger logger, string type, string? kind, string? @namespace, string? name, string outcome,
        int created, int updated, int deleted, int unchanged, double durationMs, string reason, string traceParent);

    [LoggerMessage(17, LogLevel.Warning, "{Type} {Kind} {Namespace}/{Name}: transient API failure, asking the sender to retry: {Reason} traceparent {TraceParent}")]
    public static partial void TransientTraced(ILogger logger, string type, string? kind, string? @namespace, string? name, string? reason, string traceParent);

    [LoggerMessage(18, LogLevel.Error, "{Type} {Kind} {Namespace}/{Name}: failed: {Reason} traceparent {TraceParent}")]
    public static partial void FailedTraced(ILogger logger, string type, string? kind, string? @namespace, string? name, string? reason, string traceParent);

    [LoggerMessage(19, LogLevel.Warning, "Event {Reason} on {Kind} {Namespace}/{Name} not written: {Cause}")]
    public static partial void EventNotWritten(ILogger logger, string kind, string @namespace, string name, string reason, string cause);

    [LoggerMessage(EventId = 20, Message = "Start-up check of the API server: {Problem}")]
    public static partial void StartCheckFailed(ILogger logger, LogLevel level, string problem);

    /// <summary>
    /// The one line per event. With the event's <paramref name="traceParent"/> it is the same line plus a
    /// <c>TraceParent</c> field; without one, nothing is added (and nothing allocated) for it.
    /// </summary>
    public static void Outcome(ILogger logger, string type, Outcome o, double durationMs, string? traceParent = null)
    {
        switch (o.Result)
        {
            case OutcomeResult.Transient when traceParent is not null:
                TransientTraced(logger, type, o.Kind, o.Namespace, o.Name, o.Reason, traceParent);
                break;
            case OutcomeResult.Transient:
                Transient(logger, type, o.Kind, o.Namespace, o.Name, o.Reason);
                break;
            case OutcomeResult.Failed when traceParent is not null:
                FailedTraced(logger, type, o.Kind, o.Namespace, o.Name, o.Reason, traceParent);
                break;
            case OutcomeResult.Failed:
                Failed(logger, type, o.Kind, o.Namespace, o.Name, o.Reason);
                break;
            default:
                if (o.NotOwned is { Count: > 0 })
                {
                    NotOwned(logger, o.Kind, o.Namespace, o.Name, string.Join(", ", o.NotOwned));
                }

                var reason = o.Reason is null ? "" : $": {o.Reason}";
                if (traceParent is null)
                {
                    Handled(logger, type, o.Kind, o.Namespace, o.Name, o.Result.Name(), o.Created, o.Updated, o.Deleted, o.Unchanged, Math.Round(durationMs, 2), reason);
                }
                else
                {
                    HandledTraced(logger, type, o.Kind, o.Namespace, o.Name, o.Result.Name(), o.Created, o.Updated, o.Deleted, o.Unchanged, Math.Round(durationMs, 2), reason, traceParent);
                }

                break;
        }
    }
}
