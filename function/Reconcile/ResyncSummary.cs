using System.Text.Json.Serialization;
using Cachier.Domain;

namespace Cachier.Reconcile;

/// <summary>
/// How a resync ended: every workload handled; some failed; the run as a whole stopped on a transient failure (worth a
/// redelivery); or it failed for good (say RBAC: an operator must act). "failed" means permanent, as in <see cref="OutcomeResult"/>.
/// Running: the request was answered before the run finished (<c>ResyncAnswerWithin</c>); the run goes on.
/// </summary>
[JsonConverter(typeof(KebabEnumJson<ResyncResult>))]
public enum ResyncResult { Completed, Partial, Transient, Failed, Running }

/// <summary>What one full resync did.</summary>
public sealed record ResyncSummary(
    ResyncResult Result,
    int Workloads,
    int Images,
    int Created,
    int Updated,
    int Deleted,
    int Failed,
    IReadOnlyList<string> SkippedKinds,
    IReadOnlyList<string> Failures,
    double DurationMs,
    bool Joined = false,
    bool Reused = false);
