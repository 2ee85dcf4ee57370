using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace Cachier.Bench;

/// <summary>One request as the API server recorded it.</summary>
public sealed record AuditEntry(string Verb, string RequestUri, int Code, string UserAgent);

/// <summary>
/// Counts API calls from the API server's side: the audit log (JSON lines, level Metadata, stage
/// ResponseComplete). A window starts at the file's length; it ends at a unique admin request (the marker),
/// so every call made before the marker was sent is in the window.
/// </summary>
public sealed class AuditLog(string path)
{
    public readonly record struct Mark(long Length, ulong Inode);

    public Mark Start()
    {
        var info = new FileInfo(path);
        return new Mark(info.Length, Inode(path));
    }

    /// <summary>The requests of <paramref name="user"/> between <paramref name="mark"/> and the marker (inclusive of everything before it).</summary>
    public async Task<List<AuditEntry>> CollectAsync(Mark mark, string user, string marker, TimeSpan timeout)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            var text = ReadSince(mark);
            if (text.Contains(marker, StringComparison.Ordinal))
            {
                // The marker is written after the requests that completed before it was sent; a little slack for
                // responses whose audit line is written just after the client got them.
                await Task.Delay(150);
                return Parse(ReadSince(mark), user);
            }

            if (Stopwatch.GetTimestamp() > deadline)
            {
                throw new TimeoutException($"audit marker {marker} did not appear in {path} within {timeout}");
            }

            await Task.Delay(25);
        }
    }

    private static List<AuditEntry> Parse(string text, string user)
    {
        var entries = new List<AuditEntry>();
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0 || !line.Contains(user, StringComparison.Ordinal))
            {
                continue;
            }

            try
            {
                using var doc = JsonDocument.Parse(line);
                var root = doc.RootElement;
                if (root.GetProperty("user").GetProperty("username").GetString() != user
                    || root.GetProperty("stage").GetString() != "ResponseComplete")
                {
                    continue;
                }

                entries.Add(new AuditEntry(
                    root.GetProperty("verb").GetString() ?? "",
                    root.GetProperty("requestURI").GetString() ?? "",
                    root.TryGetProperty("responseStatus", out var s) && s.TryGetProperty("code", out var c) ? c.GetInt32() : 0,
                    root.TryGetProperty("userAgent", out var ua) ? ua.GetString() ?? "" : ""));
            }
            catch (JsonException)
            {
                // A line still being written (the last one): the marker comes after it anyway.
            }
        }

        return entries;
    }

    /// <summary>Everything written since the mark, across a rotation (audit-log-maxsize) if one happened.</summary>
    private string ReadSince(Mark mark)
    {
        var text = new StringBuilder();
        if (Inode(path) != mark.Inode)
        {
            // Rotated: the rest of the old file (now audit-<time>.log) first.
            var rotated = Directory.GetFiles(Path.GetDirectoryName(path)!, Path.GetFileNameWithoutExtension(path) + "-*" + Path.GetExtension(path))
                .FirstOrDefault(f => Inode(f) == mark.Inode);
            if (rotated is not null)
            {
                text.Append(ReadFrom(rotated, mark.Length));
            }

            text.Append(ReadFrom(path, 0));
        }
        else
        {
            text.Append(ReadFrom(path, mark.Length));
        }

        return text.ToString();
    }

    private static string ReadFrom(string file, long offset)
    {
        using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        if (offset > stream.Length)
        {
            offset = 0;
        }

        stream.Seek(offset, SeekOrigin.Begin);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    private static ulong Inode(string file)
    {
        // `stat -c %i` without P/Invoke: the inode is what tells a rotated file from the new one.
        using var process = Process.Start(new ProcessStartInfo("stat", ["-c", "%i", file]) { RedirectStandardOutput = true, UseShellExecute = false })!;
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return ulong.TryParse(output.Trim(), out var inode) ? inode : 0;
    }
}

public static class AuditSummary
{
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
