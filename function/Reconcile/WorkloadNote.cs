using Cachier.Domain;

namespace Cachier.Reconcile;

/// <summary>
/// What an operator is told on the workload itself (a Kubernetes Event: <c>kubectl describe</c> shows it): a change
/// Cachier made, or one it could not make. Never a no-op: an event per unchanged workload would flood the API server.
/// </summary>
public sealed record WorkloadNote(string Type, string Reason, string Message)
{
    public const string Normal = "Normal";
    public const string Warning = "Warning";

    /// <summary>The notes an outcome deserves, one per kind of change; <paramref name="errorStatus"/>: the API error that ended it.</summary>
    public static IReadOnlyList<WorkloadNote> For(Outcome outcome, int? errorStatus = null)
    {
        if (errorStatus == 403)
        {
            // RBAC refused a call (the ClusterRole lacks a verb or a kind): an operator must act.
            return [new(Warning, "ImagesForbidden", $"Cachier may not do what this workload needs: {outcome.Reason}")];
        }

        var notes = new List<WorkloadNote>();
        if (outcome.Created > 0)
        {
            notes.Add(new(Normal, "ImagesCreated", $"Created {Count(outcome.Created)} to cache this workload's container images"));
        }

        if (outcome.Updated > 0)
        {
            notes.Add(new(Normal, "ImagesUpdated", $"Updated {Count(outcome.Updated)} to follow this workload"));
        }

        if (outcome.Deleted > 0)
        {
            notes.Add(new(Normal, "ImagesDeleted", $"Deleted {Count(outcome.Deleted)} this workload no longer needs"));
        }

        if (outcome.NotOwned is { Count: > 0 } taken)
        {
            notes.Add(new(Warning, "ImagesNotOwned",
                $"Not cached: an Image of the same name belongs to another owner, left alone: {string.Join(", ", taken)}"));
        }

        return notes;
    }

    private static string Count(int n) => n == 1 ? "1 Image" : $"{n} Images";
}

/// <summary>
/// Where notes go. Must return at once and never throw: a note is worth less than the reconcile that made it.
/// </summary>
public interface IEventRecorder
{
    void Record(Workload subject, WorkloadNote note);

    /// <summary>
    /// Holds the writing of notes until the returned handle is disposed (a resync: its writes come first); notes are
    /// still queued meanwhile. A recorder that writes nothing has nothing to hold.
    /// </summary>
    IDisposable Hold() => NoEvents.NothingHeld;
}

/// <summary>Records nothing: for runs that change nothing (<c>cachier plan</c>).</summary>
public sealed class NoEvents : IEventRecorder
{
    public static readonly NoEvents Instance = new();

    internal static readonly IDisposable NothingHeld = new Nothing();

    public void Record(Workload subject, WorkloadNote note)
    {
    }

    private sealed class Nothing : IDisposable
    {
        public void Dispose()
        {
        }
    }
}
