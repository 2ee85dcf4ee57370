using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace Cachier.Bench.Support;

/// <summary>One request as the API server recorded it (its <c>ResponseComplete</c> line).</summary>
public sealed record AuditEntry(string Verb, string RequestUri, int Code, string UserAgent, string User, string? Resource, string? Namespace);

/// <summary>
/// The one reader of the API server's audit log (JSON lines, level Metadata, one <c>ResponseComplete</c> line per
/// request): opened at its end when the bench starts, it hands out the complete lines appended since the last read and
/// follows the file across a rotation (<c>--audit-log-maxsize</c> renames it). Calls are counted between markers: a
/// request only the admin makes, with a unique path; once the marker is in the log, so is every call made before it.
/// </summary>
public sealed class AuditLog : IDisposable
{
    /// <summary>What the function GETs once at start (the Image API's discovery document).</summary>
    private const string StartCheckPath = "/apis/caching.internal.knative.dev/v1alpha1";

    private readonly string _path;
    private FileStream _stream;
    private string _opened;

    public AuditLog(string path)
    {
        _path = path;
        _stream = Open(path, fromEnd: true);
        _opened = Target(_stream);
    }

    /// <summary>Starts a window: what was logged before now is not counted.</summary>
    public void Start() => ReadLines();

    /// <summary>The requests of <paramref name="user"/> since <see cref="Start"/>, up to the marker (inclusive of everything before it).</summary>
    public async Task<List<AuditEntry>> CollectAsync(string user, string marker, TimeSpan timeout)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        var lines = new List<string>();
        while (true)
        {
            lines.AddRange(ReadLines());
            if (lines.Exists(l => l.Contains(marker, StringComparison.Ordinal)))
            {
                // The marker is written after the requests that completed before it was sent; a little slack for
                // responses whose audit line is written just after the client got them.
                await Task.Delay(150);
                lines.AddRange(ReadLines());
                // The function's start-up check (one GET of the Image API's discovery document per process start) is not
                // a call of the work measured.
                return [.. lines.Where(l => l.Contains(user, StringComparison.Ordinal)).Select(Parse).OfType<AuditEntry>()
                    .Where(e => e.User == user && e.RequestUri != StartCheckPath)];
            }

            if (Stopwatch.GetTimestamp() > deadline)
            {
                throw new TimeoutException($"audit marker {marker} did not appear in {_path} within {timeout}");
            }

            await Task.Delay(25);
        }
    }

    /// <summary>The complete lines appended since the last read; across a rotation, the rest of the renamed file first.</summary>
    public List<string> ReadLines()
    {
        var lines = Drain();
        if (Target(_stream) != _opened)
        {
            lines.AddRange(Drain());
            _stream.Dispose();
            _stream = Open(_path, fromEnd: false);
            _opened = Target(_stream);
            lines.AddRange(Drain());
        }

        return lines;
    }

    /// <summary>The request of a <c>ResponseComplete</c> line; null for any other stage.</summary>
    public static AuditEntry? Parse(string line)
    {
        using var doc = JsonDocument.Parse(line);
        var root = doc.RootElement;
        if (root.GetProperty("stage").GetString() != "ResponseComplete")
        {
            return null;
        }

        var objectRef = root.TryGetProperty("objectRef", out var o) ? o : default;
        string? Ref(string name) => objectRef.ValueKind == JsonValueKind.Object && objectRef.TryGetProperty(name, out var v) ? v.GetString() : null;
        return new AuditEntry(
            root.GetProperty("verb").GetString() ?? "",
            root.GetProperty("requestURI").GetString() ?? "",
            root.TryGetProperty("responseStatus", out var s) && s.TryGetProperty("code", out var c) ? c.GetInt32() : 0,
            root.TryGetProperty("userAgent", out var ua) ? ua.GetString() ?? "" : "",
            root.GetProperty("user").GetProperty("username").GetString() ?? "",
            Ref("resource"),
            Ref("namespace"));
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

    private List<string> Drain()
    {
        var start = _stream.Position;
        var buffer = new byte[_stream.Length - start];
        var read = _stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        var complete = read == 0 ? 0 : Array.LastIndexOf(buffer, (byte)'\n', read - 1) + 1;
        _stream.Position = start + complete;
        return [.. Encoding.UTF8.GetString(buffer, 0, complete).Split('\n', StringSplitOptions.RemoveEmptyEntries)];
    }
}

public static class AuditSummary
{
    /// <summary>
    /// The calls an event or a resync needed, apart from the Kubernetes Events (core/v1 <c>events</c>) Cachier writes about
    /// them: those are notes queued off the reconcile (SPEC 5), written one at a time in the background, and may land in a
    /// later scenario's window.
    /// </summary>
    public static (List<AuditEntry> Calls, int EventWrites) WithoutEventWrites(IEnumerable<AuditEntry> entries)
    {
        var all = entries.ToList();
        var calls = all.Where(e => e.Resource != "events").ToList();
        return (calls, all.Count - calls.Count);
    }

    /// <summary>"get 1, list 1, create 3".</summary>
    public static string Verbs(IEnumerable<AuditEntry> entries) =>
        string.Join(", ", entries.GroupBy(e => e.Verb).OrderBy(g => Order(g.Key)).Select(g => $"{g.Key} {g.Count()}")) is { Length: > 0 } s ? s : "none";

    private static int Order(string verb) => verb switch
    {
        "get" => 0,
        "list" => 1,
        "create" => 2,
        "update" => 3,
        "patch" => 4,
        "delete" => 5,
        _ => 6,
    };
}
