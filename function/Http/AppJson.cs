using System.Text.Json;
using System.Text.Json.Serialization;
using Cachier.Reconcile;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Cachier.Http;

/// <summary>The JSON of every answer (source-generated: Native AOT has no reflection), and the health probes.</summary>
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

/// <summary>Readiness turns 503 once the process is stopping (Knative then sends no more requests to it).</summary>
public static class Probes
{
    public static JsonHttpResult<Health> Readiness(IHostApplicationLifetime lifetime) =>
        lifetime.ApplicationStopping.IsCancellationRequested
            ? TypedResults.Json(new Health("stopping"), AppJson.Default.Health, statusCode: StatusCodes.Status503ServiceUnavailable)
            : TypedResults.Json(new Health("ok"), AppJson.Default.Health);
}
