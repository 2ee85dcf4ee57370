using System.Text;
using System.Text.Json;

namespace Cachier.Bench.Resync;

/// <summary>
/// Follows the API server's audit log (JSON lines, level Metadata, one <c>ResponseComplete</c> line per request) from where
/// it stood when the bench started, across a rotation, and tallies the function's calls per phase. A phase starts at a
/// marker: a GET, by the admin, of a ConfigMap named after the phase (it does not exist). Markers are sent while the
/// function is idle, so every call the function makes lands between the marker of the phase that caused it and the next.
/// </summary>
public sealed class AuditLog : IDisposable
{
    private readonly string _run = Guid.NewGuid().ToString("N")[..8];
    private readonly string _path;
    private readonly string _identity;
    private readonly string _namespacePrefix;
    private FileStream _stream;
    private string _opened;
    private string? _phase;

    public AuditLog(string path, string identity, string namespacePrefix)
    {
        _path = path;
        _identity = identity;
        _namespacePrefix = namespacePrefix;
        _stream = Open(path, fromEnd: true);
        _opened = Target(_stream);
    }

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
                throw new TimeoutException($"marker {phase} did not reach {_path} within 60 s");
            }

            if (ReadNew() == 0)
            {
                await Task.Delay(100);
            }
        }
    }

    /// <summary>
    /// Processes the complete lines appended since the last read; returns how many. The open handle follows the file
    /// through a rotation (--audit-log-maxsize renames it); once renamed, its rest is read and the new file opened.
    /// </summary>
    public int ReadNew()
    {
        var lines = Drain();
        if (Target(_stream) != _opened)
        {
            lines += Drain();
            _stream.Dispose();
            _stream = Open(_path, fromEnd: false);
            _opened = Target(_stream);
            lines += Drain();
        }

        return lines;
    }

    public void Dispose() => _stream.Dispose();

    private static FileStream Open(string file, bool fromEnd)
    {
        var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        if (fromEnd)
        {
            stream.Seek(0, SeekOrigin.End);
        }

        return stream;
    }

    /// <summary>Where the open file is now (Linux): a rotation renames it.</summary>
    private static string Target(FileStream stream) =>
        new FileInfo($"/proc/self/fd/{stream.SafeFileHandle.DangerousGetHandle()}").LinkTarget ?? "";

    private int Drain()
    {
        var start = _stream.Position;
        var buffer = new byte[_stream.Length - start];
        var read = _stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        var complete = read == 0 ? 0 : Array.LastIndexOf(buffer, (byte)'\n', read - 1) + 1;
        _stream.Position = start + complete;
        var lines = 0;
        foreach (var line in Encoding.UTF8.GetString(buffer, 0, complete).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            lines++;
            Process(line);
        }

        return lines;
    }

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

        var mine = line.Contains(_identity, StringComparison.Ordinal);
        var image = line.Contains("\"resource\":\"images\"", StringComparison.Ordinal) && line.Contains(_namespacePrefix, StringComparison.Ordinal);
        if (!mine && !image)
        {
            return;
        }

        using var doc = JsonDocument.Parse(line);
        var root = doc.RootElement;
        if (root.GetProperty("stage").GetString() != "ResponseComplete")
        {
            return;
        }

        var verb = root.GetProperty("verb").GetString() ?? "?";
        var user = root.GetProperty("user").GetProperty("username").GetString();
        if (user == _identity)
        {
            if (_phase is null)
            {
                Unattributed++;
                return;
            }

            var calls = Calls[_phase];
            calls[verb] = calls.GetValueOrDefault(verb) + 1;
        }
        else if (image && _phase is not null && verb is "create" or "update" or "patch" or "delete"
            && root.TryGetProperty("objectRef", out var obj) && obj.TryGetProperty("namespace", out var ns)
            && ns.GetString()?.StartsWith(_namespacePrefix, StringComparison.Ordinal) == true)
        {
            OthersImageWrites[_phase] = OthersImageWrites.GetValueOrDefault(_phase) + 1;
        }
    }
}
