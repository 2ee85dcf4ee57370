namespace Cachier.Reconcile;

/// <summary>What one warm pass did.</summary>
public sealed record WarmSummary(
    string Result,
    int Nodes,
    int Images,
    int PodsCreated,
    int PodsDeleted,
    int StatusesWritten,
    int Failed,
    IReadOnlyList<string> Failures,
    double DurationMs,
    bool Joined = false)
{
    public const string Completed = "completed";

    /// <summary>Some writes failed transiently: the sender should redeliver.</summary>
    public const string Partial = "partial";

    /// <summary>The pass could not read the cluster, transiently: the sender should redeliver.</summary>
    public const string Unavailable = "unavailable";

    /// <summary>A permanent API error (RBAC): an operator must act.</summary>
    public const string Error = "error";

    /// <summary>A node's event after a settled pass, and nothing the warmer reads of that node changed: no pass.</summary>
    public const string Unchanged = "unchanged";
}
