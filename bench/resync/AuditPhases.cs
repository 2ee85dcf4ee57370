namespace Cachier.Bench.Resync;

/// <summary>
/// Tallies the function's calls per phase from the audit log (bench/Support/AuditLog.cs), from where it stood when the
/// bench started. A phase starts at a marker: a GET, by the admin, of a ConfigMap named after the phase (it does not
/// exist). Markers are sent while the function is idle, so every call the function makes lands between the marker of
/// the phase that caused it and the next.
/// </summary>
public sealed class AuditPhases(string path, string identity, string namespacePrefix) : IDisposable
{
    private readonly string _run = Guid.NewGuid().ToString("N")[..8];
    private readonly AuditLog _log = new(path);
    private string? _phase;

    /// <summary>phase -> verb -> calls of the function's identity.</summary>
    public Dictionary<string, SortedDictionary<string, int>> Calls { get; } = [];

    /// <summary>phase -> Image writes in the bench's namespaces by anyone but the function (other clients' resyncs).</summary>
    public Dictionary<string, int> OthersImageWrites { get; } = [];

    /// <summary>Calls of the function's identity seen outside every phase (expected: none).</summary>
    public int Unattributed { get; private set; }

    private string Prefix => $"cachier-bench-mark-{_run}-";

    /// <summary>Sends the marker of <paramref name="phase"/> and reads the log until it is there.</summary>
    public async Task MarkAsync(Kubectl admin, string phase)
    {
        await admin.TryRunAsync(["get", "--raw", $"/api/v1/namespaces/default/configmaps/{Prefix}{phase}"]);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (_phase != phase)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"marker {phase} did not reach {path} within 60 s");
            }

            if (ReadNew() == 0)
            {
                await Task.Delay(100);
            }
        }
    }

    /// <summary>Processes the complete lines appended since the last read; returns how many.</summary>
    public int ReadNew()
    {
        var lines = _log.ReadLines();
        foreach (var line in lines)
        {
            Process(line);
        }

        return lines.Count;
    }

    public void Dispose() => _log.Dispose();

    private void Process(string line)
    {
        var marker = line.IndexOf(Prefix, StringComparison.Ordinal);
        if (marker >= 0)
        {
            var start = marker + Prefix.Length;
            _phase = line[start..line.IndexOf('"', start)];
            Calls.TryAdd(_phase, []);
            return;
        }

        var mine = line.Contains(identity, StringComparison.Ordinal);
        var image = line.Contains("\"resource\":\"images\"", StringComparison.Ordinal) && line.Contains(namespacePrefix, StringComparison.Ordinal);
        if ((!mine && !image) || AuditLog.Parse(line) is not { } entry)
        {
            return;
        }

        if (entry.User == identity)
        {
            if (_phase is null)
            {
                Unattributed++;
                return;
            }

            var calls = Calls[_phase];
            calls[entry.Verb] = calls.GetValueOrDefault(entry.Verb) + 1;
        }
        else if (image && _phase is not null && entry.Verb is "create" or "update" or "patch" or "delete"
            && entry.Namespace?.StartsWith(namespacePrefix, StringComparison.Ordinal) == true)
        {
            OthersImageWrites[_phase] = OthersImageWrites.GetValueOrDefault(_phase) + 1;
        }
    }
}
