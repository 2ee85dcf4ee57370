using System.Text.Json.Serialization;
using Cachier.Domain;

namespace Cachier.Reconcile;

/// <summary>What handling one event came to. Errors the reconciler expects are outcomes, not exceptions.</summary>
public sealed record Outcome(
    string Result,
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
    public const string Reconciled = "reconciled";
    public const string Ignored = "ignored";
    public const string DeletedResult = "deleted";
    public const string Gone = "gone";
    public const string Disabled = "disabled";
    public const string Stale = "stale";
    public const string NotOwnedResult = "not-owned";
    public const string Transient = "transient";
    public const string Failed = "failed";

    /// <summary>How long a sender should wait before redelivering a transient failure.</summary>
    [JsonIgnore]
    public TimeSpan? RetryAfter { get; init; }

    public static Outcome For(string result, WorkloadRef? workload, string? reason = null) =>
        new(result, workload?.Kind, workload?.Namespace, workload?.Name, reason);

    public static Outcome FromApiError(WorkloadRef workload, ApiException error) =>
        For(error.IsTransient ? Transient : Failed, workload, error.Message) with { RetryAfter = error.RetryAfter };
}
