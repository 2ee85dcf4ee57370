using System.Globalization;
using System.Text;
using Cachier.Reconcile;

namespace Cachier.Plan;

/// <summary>
/// What <c>cachier plan</c> found: how the resync it ran ended, how many workloads it listed, and the Images each
/// workload's reconcile would create, update and delete (workloads with nothing to do are left out).
/// </summary>
public sealed record PlanReport(
    ResyncResult Result,
    int Workloads,
    IReadOnlyList<WorkloadChanges> Changes,
    IReadOnlyList<string> SkippedKinds,
    IReadOnlyList<string> Failures)
{
    /// <summary>A readable table: one row per Image to write, then a summary line, skipped kinds and failures.</summary>
    public static string Table(PlanReport report)
    {
        var rows = new List<string[]> { new[] { "WORKLOAD", "ACTION", "IMAGE", "IMAGE RESOURCE", "CHANGES FROM" } };
        foreach (var c in report.Changes)
        {
            var workload = $"{c.Kind} {c.Namespace}/{c.Name}";
            rows.AddRange(c.Create.Select(i => new[] { workload, "create", i.Image, i.Name, "" }));
            rows.AddRange(c.Update.Select(i => new[] { workload, "update", i.Image, i.Name, i.Was ?? "" }));
            rows.AddRange(c.Delete.Select(i => new[] { workload, "delete", i.Image, i.Name, "" }));
        }

        var text = new StringBuilder();
        if (rows.Count > 1)
        {
            var widths = Enumerable.Range(0, rows[0].Length).Select(col => rows.Max(r => r[col].Length)).ToArray();
            foreach (var row in rows)
            {
                text.Append(string.Join("  ", row.Select((cell, col) => cell.PadRight(widths[col]))).TrimEnd()).Append('\n');
            }
        }

        var count = (Func<WorkloadChanges, int> pick) => report.Changes.Sum(pick);
        text.Append(CultureInfo.InvariantCulture,
            $"{report.Workloads} workloads listed, {report.Changes.Count} to change: {count(c => c.Create.Count)} Images to create, {count(c => c.Update.Count)} to update, {count(c => c.Delete.Count)} to delete. Nothing was written.\n");
        if (report.SkippedKinds.Count > 0)
        {
            text.Append(CultureInfo.InvariantCulture, $"Kinds the API server does not serve, skipped: {string.Join(", ", report.SkippedKinds)}\n");
        }

        foreach (var failure in report.Failures)
        {
            text.Append(CultureInfo.InvariantCulture, $"Could not plan: {failure}\n");
        }

        return text.ToString();
    }
}
