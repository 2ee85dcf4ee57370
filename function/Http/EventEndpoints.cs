using System.Text.Json;
using System.Text.Json.Serialization;
using Cachier.Configuration;
using Cachier.Diagnostics;
using Cachier.Domain;
using Cachier.Reconcile;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Cachier.Http;

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(Handled))]
[JsonSerializable(typeof(List<Handled>))]
[JsonSerializable(typeof(ResyncSummary))]
[JsonSerializable(typeof(WarmSummary))]
[JsonSerializable(typeof(Health))]
[JsonSerializable(typeof(DaprSubscription[]))]
[JsonSerializable(typeof(DaprStatus))]
[JsonSerializable(typeof(JsonElement))]
internal sealed partial class AppJson : JsonSerializerContext;

public sealed record Health(string Status);

/// <summary>The HTTP edge: bind, parse, hand the domain record inward, map the outcome to a status code.</summary>
public static class EventEndpoints
{
    public static void MapEventEndpoints(this IEndpointRouteBuilder app, SenderFilter senders)
    {
        app.MapPost("/", ReceiveAsync).AddEndpointFilter(senders);
        app.MapPost("/resync", ResyncAsync).AddEndpointFilter(senders);
        app.MapGet("/health/liveness", () => TypedResults.Ok(new Health("ok")));
        app.MapGet("/health/readiness", Readiness);
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

    private static JsonHttpResult<Health> Readiness(IHostApplicationLifetime lifetime) =>
        lifetime.ApplicationStopping.IsCancellationRequested
            ? TypedResults.Json(new Health("stopping"), AppJson.Default.Health, statusCode: StatusCodes.Status503ServiceUnavailable)
            : TypedResults.Json(new Health("ok"), AppJson.Default.Health);

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
