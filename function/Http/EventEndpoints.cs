using System.Diagnostics;
using System.Text.Json.Serialization;
using Cachier.Configuration;
using Cachier.Diagnostics;
using Cachier.Domain;
using Cachier.Reconcile;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Cachier.Http;

/// <summary>The HTTP edge: bind, parse, hand the inbound events to the <see cref="EventPipeline"/>, map the outcome to a status code.</summary>
public static class EventEndpoints
{
    public static void MapEventEndpoints(this IEndpointRouteBuilder app, SenderFilter senders)
    {
        app.MapPost("/", ReceiveAsync).AddEndpointFilter(senders);
        app.MapPost("/resync", ResyncAsync).AddEndpointFilter(senders);
        app.MapGet("/health/liveness", () => TypedResults.Ok(new Health("ok")));
        app.MapGet("/health/readiness", Probes.Readiness);
    }

    /// <summary>200 for every handled outcome; 400/413/415 bad request; 503 + Retry-After transient; 500 permanent.</summary>
    public static async Task<Results<JsonHttpResult<Handled>, JsonHttpResult<List<Handled>>, ProblemHttpResult>> ReceiveAsync(
        HttpRequest request, HttpResponse response, CachierSettings settings, EventPipeline pipeline, BodyBudget budget, ILogger<EventPipeline> logger, CancellationToken ct)
    {
        using var lease = budget.Open();
        List<Inbound> inbound;
        bool batch;
        try
        {
            var events = await CloudEventBinding.ReadAsync(request, settings.Options, lease, ct);
            batch = events.Count != 1 || request.ContentType?.StartsWith(CloudEventBinding.BatchMediaType, StringComparison.OrdinalIgnoreCase) == true;
            inbound = events.Select(e => EventParser.Parse(e, settings)).ToList();
        }
        catch (BindingException e)
        {
            if (e.Status == StatusCodes.Status503ServiceUnavailable)
            {
                response.Headers.RetryAfter = settings.Options.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            }

            return Reject(logger, e.Status, e.Message);
        }
        catch (BadEventException e)
        {
            return Reject(logger, StatusCodes.Status400BadRequest, e.Message);
        }

        var handled = await pipeline.HandleAllAsync(inbound, ct);

        var status = StatusOf(handled, response, settings);
        return batch
            ? TypedResults.Json(handled, AppJson.Default.ListHandled, statusCode: status)
            : TypedResults.Json(handled[0], AppJson.Default.Handled, statusCode: status);
    }

    /// <summary>The same as a ping event (the warmer: a warm pass): 200, 503 + Retry-After when transient, 500 when permanent.</summary>
    public static async Task<Results<JsonHttpResult<ResyncSummary>, JsonHttpResult<WarmSummary>>> ResyncAsync(
        HttpResponse response, CachierSettings settings, EventPipeline pipeline, CancellationToken ct)
    {
        var handled = await pipeline.HandleAsync(new ResyncInbound("resync"), ct);
        var status = StatusOf([handled], response, settings);
        return handled.Warm is { } warm
            ? TypedResults.Json(warm, AppJson.Default.WarmSummary, statusCode: status)
            : TypedResults.Json(handled.Resync!, AppJson.Default.ResyncSummary, statusCode: status);
    }

    /// <summary>500 if anything failed for good; else 503 + Retry-After if anything is worth redelivering; else 202 if a resync is still running; else 200.</summary>
    private static int StatusOf(IReadOnlyList<Handled> handled, HttpResponse response, CachierSettings settings)
    {
        if (handled.Any(h => h.IsFailure))
        {
            return StatusCodes.Status500InternalServerError;
        }

        if (!handled.Any(h => h.IsTransient))
        {
            // A resync still running when the request had to be answered: accepted, not done.
            return handled.Any(h => h.Resync?.Result == ResyncResult.Running) ? StatusCodes.Status202Accepted : StatusCodes.Status200OK;
        }

        var wait = handled.Select(h => h.Outcome?.RetryAfter).Max() ?? TimeSpan.Zero;
        response.Headers.RetryAfter = Math.Max(settings.Options.RetryAfterSeconds, (int)Math.Ceiling(wait.TotalSeconds))
            .ToString(System.Globalization.CultureInfo.InvariantCulture);
        return StatusCodes.Status503ServiceUnavailable;
    }

    private static ProblemHttpResult Reject(ILogger logger, int status, string reason)
    {
        Log.Rejected(logger, status, reason);
        return TypedResults.Problem(reason, statusCode: status, title: status switch
        {
            413 => "Request body too large",
            415 => "Unsupported media type",
            503 => "Service unavailable",
            _ => "Malformed CloudEvent",
        });
    }
}

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
            var pass = await warmer.RunAsync((inbound as WarmInbound)?.Node, ct);
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
