using System.Text.Json;
using System.Text.Json.Serialization;
using Cachier.Configuration;
using Cachier.Diagnostics;
using Cachier.Reconcile;
using CloudNative.CloudEvents;
using CloudNative.CloudEvents.SystemTextJson;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Cachier.Http;

/// <summary>One entry of Dapr's programmatic subscription list.</summary>
public sealed record DaprSubscription([property: JsonPropertyName("pubsubname")] string PubsubName, string Topic, string Route);

/// <summary>Dapr's delivery answer: SUCCESS, RETRY (transient) or DROP (can never succeed).</summary>
public sealed record DaprStatus(string Status);

/// <summary>
/// Dapr pub/sub as a second way in, feeding the same pipeline as POST /. Dapr's HTTP contract is served here
/// directly, with source-generated JSON: Dapr.AspNetCore's MapSubscribeHandler and UseCloudEvents serialise
/// by reflection and answer 500 under Native AOT. Nothing here touches POST /.
/// </summary>
public static class DaprEndpoints
{
    public const string Route = "/dapr/events";
    private const string DaprWrapperType = "com.dapr.event.sent";
    private static readonly JsonEventFormatter Formatter = new();

    public static void MapDaprEndpoints(this IEndpointRouteBuilder app, CachierOptions options, SenderFilter senders)
    {
        if (string.IsNullOrEmpty(options.DaprPubSubName) || string.IsNullOrEmpty(options.DaprTopic))
        {
            return;
        }

        DaprSubscription[] subscriptions = [new(options.DaprPubSubName, options.DaprTopic, Route)];
        app.MapGet("/dapr/subscribe", () => TypedResults.Json(subscriptions, AppJson.Default.DaprSubscriptionArray));
        app.MapPost(Route, DeliverAsync).AddEndpointFilter(senders);
    }

    public static async Task<JsonHttpResult<DaprStatus>> DeliverAsync(
        HttpRequest request, CachierSettings settings, EventPipeline pipeline, BodyBudget budget, ILogger<EventPipeline> logger, CancellationToken ct)
    {
        using var lease = budget.Open();
        List<Inbound> inbound;
        try
        {
            var events = await CloudEventBinding.ReadAsync(request, settings.Options, lease, ct);
            inbound = events.Select(e => EventParser.Parse(Unwrap(e), settings)).ToList();
        }
        catch (BindingException e) when (e.Status == StatusCodes.Status503ServiceUnavailable)
        {
            Log.Rejected(logger, 503, $"Dapr delivery to retry: {e.Message}");
            return Answer("RETRY");
        }
        catch (Exception e) when (e is BindingException or BadEventException)
        {
            Log.Rejected(logger, 400, $"Dapr delivery dropped: {e.Message}");
            return Answer("DROP");
        }

        var retry = (await pipeline.HandleAllAsync(inbound, ct)).Any(h => h.IsTransient || h.IsFailure);

        // A permanent API error (say RBAC) is retried too: once an operator fixes it, the event still counts.
        return Answer(retry ? "RETRY" : "SUCCESS");
    }

    /// <summary>
    /// A publisher that sent the ApiServerSource event as application/cloudevents+json arrives as that event
    /// (plus Dapr's extensions); one that sent it as plain JSON arrives wrapped in Dapr's own envelope.
    /// </summary>
    private static CloudEvent Unwrap(CloudEvent delivered)
    {
        if (delivered.Type == DaprWrapperType && delivered.Data is JsonElement { ValueKind: JsonValueKind.Object } inner
            && inner.TryGetProperty("specversion", out _))
        {
            try
            {
                return Formatter.DecodeStructuredModeMessage(
                    JsonSerializer.SerializeToUtf8Bytes(inner, AppJson.Default.JsonElement),
                    new System.Net.Mime.ContentType(CloudEventBinding.StructuredMediaType), null);
            }
            catch (Exception e) when (e is ArgumentException or JsonException or InvalidOperationException)
            {
                throw new BadEventException($"the wrapped CloudEvent is malformed: {e.Message}");
            }
        }

        return delivered;
    }

    private static JsonHttpResult<DaprStatus> Answer(string status) =>
        TypedResults.Json(new DaprStatus(status), AppJson.Default.DaprStatus);
}
