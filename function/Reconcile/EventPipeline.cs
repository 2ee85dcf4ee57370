using System.Diagnostics;
using System.Text.Json.Serialization;
using Cachier.Configuration;
using Cachier.Diagnostics;
using Cachier.Domain;

namespace Cachier.Reconcile;

/// <summary>What an inbound CloudEvent asks for, in Cachier's own terms.</summary>
public abstract record Inbound(string Type)
{
    /// <summary>The event's W3C <c>traceparent</c> (distributed tracing extension), for the log line; null when absent.</summary>
    public string? TraceParent { get; init; }
}

public sealed record WorkloadInbound(string Type, WorkloadEvent Event) : Inbound(Type);

public sealed record ResyncInbound(string Type) : Inbound(Type);

public sealed record IgnoredInbound(string Type, WorkloadRef? Ref, string Reason) : Inbound(Type);

/// <summary>An event that asks the warmer for a pass: an Image, Node or pull pod changed, or a ping.</summary>
public sealed record WarmInbound(string Type, string? Kind) : Inbound(Type);

/// <summary>One handled event, whichever transport brought it (Knative HTTP, Dapr).</summary>
public sealed record Handled(string Type, Outcome? Outcome, ResyncSummary? Resync, WarmSummary? Warm = null)
{
    [JsonIgnore]
    public bool IsTransient => Outcome?.Result == OutcomeResult.Transient || Resync?.Result == ResyncResult.Transient
        || Warm?.Result is WarmSummary.Partial or WarmSummary.Unavailable;

    [JsonIgnore]
    public bool IsFailure => Outcome?.Result == OutcomeResult.Failed || Resync?.Result == ResyncResult.Failed || Warm?.Result == WarmSummary.Error;
}

/// <summary>Inbound event in, outcome out: the reconcile, the resync, and one log line and metric per event.</summary>
public sealed class EventPipeline(ImageReconciler reconciler, Resyncer resyncer, Warmer warmer, CachierSettings settings, ILogger<EventPipeline> logger)
{
    /// <summary>The result of a resync still running when its request was answered (202; its counts are not known yet).</summary>
    /// <summary>
    /// Every event of one request, in order, under one deadline (<c>RequestDeadline</c>) for the whole request: a batch
    /// cannot hold a request open for longer than one event may. Events the deadline leaves unhandled are transient.
    /// </summary>
    public async Task<List<Handled>> HandleAllAsync(IReadOnlyList<Inbound> inbound, CancellationToken ct)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(settings.Options.RequestDeadline);
        var handled = new List<Handled>(inbound.Count);
        foreach (var item in inbound)
        {
            handled.Add(await HandleAsync(item, deadline.Token, ct));
        }

        return handled;
    }

    /// <summary>One event on its own (its own deadline).</summary>
    public async Task<Handled> HandleAsync(Inbound inbound, CancellationToken ct) => (await HandleAllAsync([inbound], ct))[0];

    private async Task<Handled> HandleAsync(Inbound inbound, CancellationToken deadline, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        if (inbound is WarmInbound || (inbound is ResyncInbound && settings.IsWarmer))
        {
            var pass = await warmer.RunAsync(ct);
            Telemetry.Event(inbound.Type, "warm-" + pass.Result, started);
            return new Handled(inbound.Type, null, null, pass);
        }

        if (inbound is ResyncInbound)
        {
            // The resync runs detached from the request (a sender's timeout must not abort a half-done repair) and is
            // bounded by its own pages and parallelism. The request waits for its summary, but answers "running" before
            // Knative's request timeout would cut it off; the run goes on, logs its summary, and a trigger joins it.
            ResyncSummary summary;
            try
            {
                summary = await resyncer.RunAsync(ct).WaitAsync(settings.Options.ResyncAnswerWithin, ct);
            }
            catch (TimeoutException)
            {
                summary = new ResyncSummary(ResyncResult.Running, 0, 0, 0, 0, 0, 0, [], [], Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }

            Telemetry.Event(inbound.Type, "resync-" + summary.Result.Name(), started);
            return new Handled(inbound.Type, null, summary);
        }

        var outcome = inbound switch
        {
            WorkloadInbound w => await ReconcileWithinDeadlineAsync(w.Event, deadline, ct),
            IgnoredInbound i => Outcome.For(OutcomeResult.Ignored, i.Ref, i.Reason),
            _ => throw new UnreachableException(inbound.GetType().Name),
        };
        Telemetry.Event(inbound.Type, outcome.Result.Name(), started);
        Log.Outcome(logger, inbound.Type, outcome, Stopwatch.GetElapsedTime(started).TotalMilliseconds, inbound.TraceParent);
        return new Handled(inbound.Type, outcome, null);
    }

    /// <summary>A request has a deadline shorter than Knative's timeout; past it the sender is asked to redeliver.</summary>
    private async Task<Outcome> ReconcileWithinDeadlineAsync(WorkloadEvent ev, CancellationToken deadline, CancellationToken ct)
    {
        try
        {
            deadline.ThrowIfCancellationRequested();
            return await reconciler.ReconcileAsync(ev, deadline);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return Outcome.For(OutcomeResult.Transient, ev.Ref, $"not finished within the request deadline of {settings.Options.RequestDeadline.TotalSeconds:0.###} s");
        }
    }
}
