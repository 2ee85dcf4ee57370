using System.Globalization;
using System.Text;

namespace Cachier.Manifests;

/// <summary>
/// A small YAML document model and writer for the manifests Cachier prints. Hand-written rather than a YAML library or
/// reflection-based serialization: it has no reflection (safe under Native AOT and trimming), it keeps the order of
/// keys exactly as built (so the output is byte-for-byte stable and <c>knative/</c> can be compared with it), and it
/// writes comments, which carry the reasons an operator reads in <c>knative/</c>. Only what the manifests use: block
/// maps, block sequences of maps, flow sequences of scalars, and string, integer and boolean scalars.
/// </summary>
public abstract class YamlNode
{
    public static implicit operator YamlNode(string value) => new YamlScalar(value);

    public static implicit operator YamlNode(long value) => new YamlScalar(value);

    public static implicit operator YamlNode(bool value) => new YamlScalar(value);
}

public sealed class YamlScalar(object value) : YamlNode
{
    public object Value { get; } = value;
}

/// <summary>A block map; entries in the order added, each with an optional comment written above it.</summary>
public sealed class YamlMap : YamlNode, IEnumerable<(string Key, YamlNode Value, string? Comment)>
{
    private readonly List<(string Key, YamlNode Value, string? Comment)> _entries = [];

    public void Add(string key, YamlNode value, string? comment = null) => _entries.Add((key, value, comment));

    public IEnumerator<(string Key, YamlNode Value, string? Comment)> GetEnumerator() => _entries.GetEnumerator();

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>A sequence: of scalars it is written in flow style (<c>["a", "b"]</c>), otherwise as a block.</summary>
public sealed class YamlSeq : YamlNode, IEnumerable<(YamlNode Item, string? Comment)>
{
    private readonly List<(YamlNode Item, string? Comment)> _items = [];

    public YamlSeq()
    {
    }

    public YamlSeq(IEnumerable<string> scalars)
    {
        foreach (var s in scalars)
        {
            Add(s);
        }
    }

    public int Count => _items.Count;

    public void Add(YamlNode item, string? comment = null) => _items.Add((item, comment));

    public IEnumerator<(YamlNode Item, string? Comment)> GetEnumerator() => _items.GetEnumerator();

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>One document of a stream: a comment above it and its object.</summary>
public sealed record YamlDocument(string? Comment, YamlMap Body);

public static class YamlWriter
{
    /// <summary>A stream: the header comment, then each document after <c>---</c>. Lines end in <c>\n</c> on every platform.</summary>
    public static string Write(string? header, IEnumerable<YamlDocument> documents)
    {
        var sb = new StringBuilder();
        Comment(sb, header, 0);
        foreach (var doc in documents)
        {
            sb.Append("---\n");
            Comment(sb, doc.Comment, 0);
            Map(sb, doc.Body, 0);
        }

        return sb.ToString();
    }

    private static void Map(StringBuilder sb, YamlMap map, int indent)
    {
        foreach (var (key, value, comment) in map)
        {
            Comment(sb, comment, indent);
            sb.Append(' ', indent).Append(Scalar(key));
            Value(sb, value, indent);
        }
    }

    /// <summary>What follows <c>key:</c> or <c>- </c>: a scalar on the line, or a nested node on the lines below.</summary>
    private static void Value(StringBuilder sb, YamlNode value, int indent)
    {
        switch (value)
        {
            case YamlScalar s:
                sb.Append(": ").Append(Scalar(s.Value)).Append('\n');
                break;
            case YamlMap m when !m.Any():
                sb.Append(": {}\n");
                break;
            case YamlMap m:
                sb.Append(":\n");
                Map(sb, m, indent + 2);
                break;
            case YamlSeq q when q.All(i => i.Item is YamlScalar):
                sb.Append(": [").AppendJoin(", ", q.Select(i => Quoted(Text(((YamlScalar)i.Item).Value)))).Append("]\n");
                break;
            case YamlSeq q:
                // Items at the key's indent, as kubectl writes them.
                sb.Append(":\n");
                foreach (var (item, comment) in q)
                {
                    Comment(sb, comment, indent);
                    if (item is not YamlMap itemMap || !itemMap.Any())
                    {
                        throw new InvalidOperationException("a block sequence holds non-empty maps only");
                    }

                    var first = true;
                    foreach (var (key, v, c) in itemMap)
                    {
                        if (!first)
                        {
                            Comment(sb, c, indent + 2);
                        }

                        sb.Append(' ', first ? indent : indent + 2).Append(first ? "- " : "").Append(Scalar(key));
                        Value(sb, v, indent + 2);
                        first = false;
                    }
                }

                break;
            default:
                throw new InvalidOperationException($"unknown node {value.GetType().Name}");
        }
    }

    private static void Comment(StringBuilder sb, string? comment, int indent)
    {
        if (comment is null)
        {
            return;
        }

        foreach (var line in comment.Split('\n'))
        {
            sb.Append(' ', indent).Append(line.Length == 0 ? "#" : "# " + line).Append('\n');
        }
    }

    private static string Text(object value) => value switch
    {
        string s => s,
        bool b => b ? "true" : "false",
        long l => l.ToString(CultureInfo.InvariantCulture),
        _ => throw new InvalidOperationException($"unsupported scalar {value.GetType().Name}"),
    };

    private static string Scalar(object value) => value is string s && !IsPlain(s) ? Quoted(s) : Text(value);

    /// <summary>
    /// A string written plain only when YAML 1.1 and 1.2 both read it back as that same string: letters, digits and
    /// <c>. _ - / : @ = ,</c>, starting with a letter or a slash, not ending in a colon, and not a boolean or null
    /// word; or digits followed by letters (<c>64Mi</c>, <c>50m</c>), which no YAML number looks like.
    /// </summary>
    private static bool IsPlain(string s)
    {
        if (s.Length == 0 || s[^1] == ':')
        {
            return false;
        }

        if (char.IsAsciiDigit(s[0]))
        {
            var digits = s.TakeWhile(char.IsAsciiDigit).Count();
            return digits < s.Length && s.Skip(digits).All(char.IsAsciiLetter);
        }

        return (char.IsAsciiLetter(s[0]) || s[0] == '/')
            && s.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' or '/' or ':' or '@' or '=' or ',')
            && s.ToLowerInvariant() is not ("true" or "false" or "yes" or "no" or "on" or "off" or "y" or "n" or "null");
    }

    /// <summary>Single-quoted when that needs no escape (JSON in a string reads better so), else double-quoted.</summary>
    private static string Quoted(string s)
    {
        if (s.Contains('"') && !s.Contains('\'') && s.All(c => c >= ' '))
        {
            return "'" + s + "'";
        }

        var sb = new StringBuilder("\"");
        foreach (var c in s)
        {
            _ = c switch
            {
                '"' => sb.Append("\\\""),
                '\\' => sb.Append("\\\\"),
                '\n' => sb.Append("\\n"),
                '\t' => sb.Append("\\t"),
                < ' ' => sb.Append("\\x").Append(((int)c).ToString("x2", CultureInfo.InvariantCulture)),
                _ => sb.Append(c),
            };
        }

        return sb.Append('"').ToString();
    }
}
