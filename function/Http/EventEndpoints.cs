using System.Text.Json;
using System.Text.Json.Serialization;
using Cachier.Reconcile;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Cachier.Http;

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(Handled))]
[JsonSerializable(typeof(List<Handled>))]
[JsonSerializable(typeof(ResyncSummary))]
[JsonSerializable(typeof(Health))]
[JsonSerializable(typeof(DaprSubscription[]))]
[JsonSerializable(typeof(DaprStatus))]
[JsonSerializable(typeof(JsonElement))]
internal sealed partial class AppJson : JsonSerializerContext;

public sealed record Health(string Status);

/// <summary>The HTTP edge: bind, parse, hand the domain record inward, map the outcome to a status code.</summary>
public static class EventEndpoints
{
    public static void MapEventEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapPost("/", ReceiveAsync);
        app.MapPost("/resync", ResyncAsync);
        app.MapGet("/health/liveness", () => TypedResults.Ok(new Health("ok")));
        app.MapGet("/health/readiness", Readiness);
    }

    /// <summary>200 for every handled outcome; 400/413/415 bad request; 503 + Retry-After transient; 500 permanent.</summary>
    public static async Task<Results<JsonHttpResult<Handled>, JsonHttpResult<List<Handled>>, ProblemHttpResult>> ReceiveAsync(
        HttpRequest request, HttpResponse response, CachierSettings settings, EventPipeline pipeline, ILogger<EventPipeline> logger, CancellationToken ct)
    {
        List<Inbound> inbound;
        bool batch;
        try
        {
            var events = await CloudEventBinding.ReadAsync(request, settings.Options.MaxRequestBodyBytes, ct);
            batch = events.Count != 1 || request.ContentType?.StartsWith(CloudEventBinding.BatchMediaType, StringComparison.OrdinalIgnoreCase) == true;
            inbound = events.Select(e => EventParser.Parse(e, settings)).ToList();
        }
        catch (BindingException e)
        {
            return Reject(logger, e.Status, e.Message);
        }
        catch (BadEventException e)
        {
            return Reject(logger, StatusCodes.Status400BadRequest, e.Message);
        }

        var handled = new List<Handled>(inbound.Count);
        foreach (var item in inbound)
        {
            handled.Add(await pipeline.HandleAsync(item, ct));
        }

        var status = handled.Any(h => h.IsFailure) ? StatusCodes.Status500InternalServerError
            : handled.Any(h => h.IsTransient) ? StatusCodes.Status503ServiceUnavailable
            : StatusCodes.Status200OK;
        if (status == StatusCodes.Status503ServiceUnavailable)
        {
            var wait = handled.Select(h => h.Outcome?.RetryAfter).Max() ?? TimeSpan.Zero;
            response.Headers.RetryAfter = Math.Max(settings.Options.RetryAfterSeconds, (int)Math.Ceiling(wait.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        return batch
            ? TypedResults.Json(handled, AppJson.Default.ListHandled, statusCode: status)
            : TypedResults.Json(handled[0], AppJson.Default.Handled, statusCode: status);
    }

    public static async Task<JsonHttpResult<ResyncSummary>> ResyncAsync(EventPipeline pipeline, CancellationToken ct)
    {
        var handled = await pipeline.HandleAsync(new ResyncInbound("resync"), ct);
        var summary = handled.Resync!;
        return TypedResults.Json(summary, AppJson.Default.ResyncSummary,
            statusCode: summary.Result == "failed" ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status200OK);
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
            _ => "Malformed CloudEvent",
        });
    }
}
