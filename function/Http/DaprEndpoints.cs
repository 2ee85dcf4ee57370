using System.Text.Json;
using System.Text.Json.Serialization;
using Cachier.Configuration;
using Cachier.Diagnostics;
using Cachier.Reconcile;
using CloudNative.CloudEvents;
using CloudNative.CloudEvents.SystemTextJson;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Cachier.Http;

/// <summary>One entry of Dapr's programmatic subscription list; a dropped delivery goes to <see cref="DeadLetterTopic"/>.</summary>
public sealed record DaprSubscription([property: JsonPropertyName("pubsubname")] string PubsubName, string Topic, string Route, string DeadLetterTopic);

/// <summary>Dapr's delivery answer: SUCCESS, RETRY (transient) or DROP (can never succeed: dead-lettered).</summary>
public sealed record DaprStatus(string Status)
{
    public static readonly DaprStatus Success = new("SUCCESS");
    public static readonly DaprStatus Retry = new("RETRY");
    public static readonly DaprStatus Drop = new("DROP");
}

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

        DaprSubscription[] subscriptions = [new(options.DaprPubSubName, options.DaprTopic, Route, DeadLetterTopic(options))];
        app.MapGet("/dapr/subscribe", () => TypedResults.Json(subscriptions, AppJson.Default.DaprSubscriptionArray));
        app.MapPost(Route, DeliverAsync).AddEndpointFilter(senders);
    }

    /// <summary>The configured dead-letter topic, else <c>&lt;topic&gt;-deadletter</c>.</summary>
    public static string DeadLetterTopic(CachierOptions options) =>
        string.IsNullOrEmpty(options.DaprDeadLetterTopic) ? $"{options.DaprTopic}-deadletter" : options.DaprDeadLetterTopic;

    /// <summary>
    /// RETRY when a later delivery can succeed (a transient API failure, the memory budget spent, a body that arrived too
    /// slowly); DROP when none can (a malformed event, a permanent API error such as a forbidden write): Dapr moves it to
    /// the dead-letter topic, where it is kept for an operator instead of being retried for ever.
    /// </summary>
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
        catch (BindingException e) when (e.Status is StatusCodes.Status503ServiceUnavailable or StatusCodes.Status408RequestTimeout)
        {
            Log.Rejected(logger, e.Status, $"Dapr delivery to retry: {e.Message}");
            return Answer(DaprStatus.Retry);
        }
        catch (Exception e) when (e is BindingException or BadEventException)
        {
            Log.Rejected(logger, e is BindingException b ? b.Status : StatusCodes.Status400BadRequest, $"Dapr delivery dropped: {e.Message}");
            return Answer(DaprStatus.Drop);
        }

        var handled = await pipeline.HandleAllAsync(inbound, ct);

        // Redelivering a whole batch is harmless (reconciling is idempotent), so one transient event asks for it.
        return Answer(handled.Any(h => h.IsTransient) ? DaprStatus.Retry : handled.Any(h => h.IsFailure) ? DaprStatus.Drop : DaprStatus.Success);
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

    private static JsonHttpResult<DaprStatus> Answer(DaprStatus status) => TypedResults.Json(status, AppJson.Default.DaprStatus);
}
