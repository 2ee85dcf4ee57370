using System.Text.Json;
using System.Text.Json.Serialization;

namespace Cachier.Domain;

/// <summary>What handling one event came to. <see cref="Transient"/>: worth a redelivery; <see cref="Failed"/>: permanent.</summary>
[JsonConverter(typeof(KebabEnumJson<OutcomeResult>))]
public enum OutcomeResult { Reconciled, Ignored, Deleted, Gone, Disabled, Stale, NotOwned, Transient, Failed }

/// <summary>What handling one event came to. Errors the reconciler expects are outcomes, not exceptions.</summary>
public sealed record Outcome(
    OutcomeResult Result,
    string? Kind = null,
    string? Namespace = null,
    string? Name = null,
    string? Reason = null,
    int Created = 0,
    int Updated = 0,
    int Deleted = 0,
    int Unchanged = 0,
    IReadOnlyList<string>? NotOwned = null)
{
    /// <summary>How long a sender should wait before redelivering a transient failure.</summary>
    [JsonIgnore]
    public TimeSpan? RetryAfter { get; init; }

    public static Outcome For(OutcomeResult result, WorkloadRef? workload, string? reason = null) =>
        new(result, workload?.Kind, workload?.Namespace, workload?.Name, reason);
}

public static class WireNames
{
    /// <summary>An outcome or result as the wire, the logs and the metrics spell it: <c>NotOwned</c> is <c>not-owned</c>.</summary>
    /// <remarks>Looked up, not formatted: it runs for every event (its log line and metric labels).</remarks>
    public static string Name<T>(this T value) where T : struct, Enum =>
        Spelling<T>.Names.TryGetValue(value, out var name) ? name : Spell(value);

    private static string Spell<T>(T value) where T : struct, Enum => JsonNamingPolicy.KebabCaseLower.ConvertName(value.ToString());

    /// <summary>Every declared value's spelling, made once per enum type.</summary>
    private static class Spelling<T> where T : struct, Enum
    {
        public static readonly Dictionary<T, string> Names = Enum.GetValues<T>().Distinct().ToDictionary(v => v, Spell);
    }
}

/// <summary>The wire spelling of an enum (<see cref="WireNames.Name{T}"/>), source-generation friendly.</summary>
public sealed class KebabEnumJson<T> : JsonConverter<T> where T : struct, Enum
{
    public override T Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var text = reader.GetString();
        return Enum.GetValues<T>().FirstOrDefault(r => r.Name() == text);
    }

    public override void Write(Utf8JsonWriter writer, T value, JsonSerializerOptions options) => writer.WriteStringValue(value.Name());
}
