using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Cachier.Domain;
using Cachier.Reconcile;

namespace Cachier.Plan;

/// <summary>The warmer's port with its writes taken down instead of sent (as <see cref="DryRunApi"/> for the Images).</summary>
public sealed class DryRunWarmApi(IWarmApi reads) : IWarmApi
{
    private readonly ConcurrentQueue<PlannedPod> _create = new();
    private readonly ConcurrentQueue<PlannedPod> _delete = new();
    private int _statuses;

    public IReadOnlyList<PlannedPod> Create => Sorted(_create);

    public IReadOnlyList<PlannedPod> Delete => Sorted(_delete);

    public int Statuses => _statuses;

    public Task<IReadOnlyList<WarmNode>> ListNodesAsync(CancellationToken ct) => reads.ListNodesAsync(ct);

    public Task<WarmNode?> GetNodeAsync(string name, CancellationToken ct) => reads.GetNodeAsync(name, ct);

    public IAsyncEnumerable<IReadOnlyList<WarmTarget>> ListImagesToWarmAsync(CancellationToken ct) => reads.ListImagesToWarmAsync(ct);

    public Task<IReadOnlyList<PullPod>> ListPullPodsAsync(CancellationToken ct) => reads.ListPullPodsAsync(ct);

    public Task<Scheduling?> GetSchedulingAsync(string ns, OwnerRef owner, CancellationToken ct) => reads.GetSchedulingAsync(ns, owner, ct);

    public Task<WriteResult> CreatePullPodAsync(NewPullPod pod, CancellationToken ct)
    {
        _create.Enqueue(new PlannedPod(pod.Namespace, pod.Name, pod.Node, pod.Images));
        return Task.FromResult(WriteResult.Done);
    }

    public Task<WriteResult> DeletePullPodAsync(PullPod pod, CancellationToken ct)
    {
        _delete.Enqueue(new PlannedPod(pod.Namespace, pod.Name, pod.Node, []));
        return Task.FromResult(WriteResult.Done);
    }

    public Task<WriteResult> WriteStatusAsync(StatusWrite write, CancellationToken ct)
    {
        Interlocked.Increment(ref _statuses);
        return Task.FromResult(WriteResult.Done);
    }

    private static List<PlannedPod> Sorted(IEnumerable<PlannedPod> pods) =>
        pods.OrderBy(p => p.Node, StringComparer.Ordinal).ThenBy(p => p.Namespace, StringComparer.Ordinal).ThenBy(p => p.Name, StringComparer.Ordinal).ToList();
}

/// <summary>One pull pod the warmer would create (with the images it pulls) or delete.</summary>
public sealed record PlannedPod(string Namespace, string Name, string Node, IReadOnlyList<string> Images);

/// <summary>What <c>cachier plan --warmer</c> found: one warm pass, its pull pods to create and delete, and the statuses it would write.</summary>
public sealed record WarmPlanReport(string Result, int Nodes, int Images, IReadOnlyList<PlannedPod> Create, IReadOnlyList<PlannedPod> Delete,
    int Statuses, IReadOnlyList<string> Failures)
{
    public static string Table(WarmPlanReport report)
    {
        var rows = new List<string[]> { new[] { "NODE", "ACTION", "PULL POD", "IMAGES" } };
        rows.AddRange(report.Create.Select(p => new[] { p.Node, "create", $"{p.Namespace}/{p.Name}", string.Join(",", p.Images) }));
        rows.AddRange(report.Delete.Select(p => new[] { p.Node, "delete", $"{p.Namespace}/{p.Name}", "" }));
        var text = new StringBuilder();
        if (rows.Count > 1)
        {
            var widths = Enumerable.Range(0, rows[0].Length).Select(col => rows.Max(r => r[col].Length)).ToArray();
            foreach (var row in rows)
            {
                text.Append(string.Join("  ", row.Select((cell, col) => cell.PadRight(widths[col]))).TrimEnd()).Append('\n');
            }
        }

        text.Append(CultureInfo.InvariantCulture,
            $"{report.Nodes} nodes, {report.Images} Images: {report.Create.Count} pull pods to create, {report.Delete.Count} to delete, {report.Statuses} Image statuses to write. Nothing was written.\n");
        foreach (var failure in report.Failures)
        {
            text.Append(CultureInfo.InvariantCulture, $"Could not plan: {failure}\n");
        }

        return text.ToString();
    }
}
