using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Cachier.Tests.Unit;

/// <summary>Structural JSON comparison: key order does not matter, array order does, and a mismatch names every differing path.</summary>
internal static class JsonDiff
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>Object keys sorted (ordinal) at every level, so two equal documents print identically.</summary>
    public static JsonNode? Normalize(JsonNode? node) => node switch
    {
        JsonObject o => new JsonObject(o.OrderBy(p => p.Key, StringComparer.Ordinal)
            .Select(p => KeyValuePair.Create(p.Key, Normalize(p.Value)))),
        JsonArray a => new JsonArray(a.Select(Normalize).ToArray()),
        null => null,
        _ => node.DeepClone(),
    };

    public static string Print(JsonNode? node) => Normalize(node)?.ToJsonString(Indented) ?? "null";

    /// <summary>Every path where <paramref name="actual"/> differs from <paramref name="expected"/>.</summary>
    public static List<string> Differences(JsonNode? expected, JsonNode? actual)
    {
        var differences = new List<string>();
        Walk("$", expected, actual, differences);
        return differences;
    }

    public static void AssertEqual(JsonNode? expected, JsonNode? actual, string context)
    {
        var differences = Differences(expected, actual);
        if (differences.Count == 0)
        {
            return;
        }

        var message = new StringBuilder()
            .AppendLine($"{context}: {differences.Count} difference(s) between expected and actual JSON:");
        foreach (var difference in differences.Take(40))
        {
            message.Append("  ").AppendLine(difference);
        }

        message.AppendLine("Actual (keys sorted):").AppendLine(Print(actual));
        Assert.Fail(message.ToString());
    }

    private static void Walk(string path, JsonNode? expected, JsonNode? actual, List<string> differences)
    {
        switch (expected, actual)
        {
            case (null, null):
                return;
            case (JsonObject e, JsonObject a):
                foreach (var key in e.Select(p => p.Key).Union(a.Select(p => p.Key)).Order(StringComparer.Ordinal))
                {
                    var child = $"{path}.{key}";
                    if (!a.ContainsKey(key))
                    {
                        differences.Add($"{child}: missing, expected {Short(e[key])}");
                    }
                    else if (!e.ContainsKey(key))
                    {
                        differences.Add($"{child}: unexpected {Short(a[key])}");
                    }
                    else
                    {
                        Walk(child, e[key], a[key], differences);
                    }
                }

                return;
            case (JsonArray e, JsonArray a):
                for (var i = 0; i < Math.Max(e.Count, a.Count); i++)
                {
                    var child = $"{path}[{i}]";
                    if (i >= a.Count)
                    {
                        differences.Add($"{child}: missing, expected {Short(e[i])}");
                    }
                    else if (i >= e.Count)
                    {
                        differences.Add($"{child}: unexpected {Short(a[i])}");
                    }
                    else
                    {
                        Walk(child, e[i], a[i], differences);
                    }
                }

                return;
            default:
                if (!JsonNode.DeepEquals(expected, actual))
                {
                    differences.Add($"{path}: expected {Short(expected)}, actual {Short(actual)}");
                }

                return;
        }
    }

    private static string Short(JsonNode? node)
    {
        var text = node?.ToJsonString() ?? "null";
        return text.Length > 200 ? text[..200] + "..." : text;
    }
}
