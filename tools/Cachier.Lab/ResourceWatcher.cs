using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Cachier.Lab;

/// <summary>
/// One watched resource: <c>[group/]version/plural</c> (<c>apps/v1/deployments</c>, <c>v1/pods</c>) or Cachier's
/// <c>Kind.version[.group]</c> (<c>Deployment.v1.apps</c>, plural guessed as the adapter guesses it), optionally
/// followed by <c>?</c> and a label selector (<c>apps/v1/deployments?app=web,tier!=db</c>).
/// </summary>
public sealed record ResourceSpec(string GroupVersion, string Plural, string? LabelSelector)
{
    public static ResourceSpec Parse(string text)
    {
        var (what, selector) = text.IndexOf('?', StringComparison.Ordinal) is var q and >= 0
            ? (text[..q], text[(q + 1)..])
            : (text, null);
        var slash = what.Split('/');
        if (slash.Length is 2 or 3 && slash.All(s => s.Length > 0))
        {
            return new ResourceSpec(string.Join('/', slash[..^1]), slash[^1], selector is { Length: > 0 } ? selector : null);
        }

        var dots = what.Split('.', 3);
        if (slash.Length == 1 && dots.Length >= 2 && dots.All(s => s.Length > 0))
        {
            var groupVersion = dots.Length == 3 ? $"{dots[2]}/{dots[1]}" : dots[1];
            return new ResourceSpec(groupVersion, AdapterEvents.GuessPlural(dots[0]), selector is { Length: > 0 } ? selector : null);
        }

        throw new FormatException($"--resource '{text}': expected group/version/plural, version/plural or Kind.version.group, optionally ?labelSelector");
    }

    /// <summary>The collection's path, cluster-wide or in one namespace.</summary>
    public string Path(string? ns)
    {
        var prefix = GroupVersion.Contains('/', StringComparison.Ordinal) ? $"/apis/{GroupVersion}" : $"/api/{GroupVersion}";
        return ns is null ? $"{prefix}/{Plural}" : $"{prefix}/namespaces/{ns}/{Plural}";
    }

    public override string ToString() => $"{GroupVersion}/{Plural}{(LabelSelector is null ? "" : "?" + LabelSelector)}";
}

/// <summary>
/// LIST then WATCH one resource as client-go's reflector does for the adapter: the LIST only yields a resourceVersion
/// (the adapter emits nothing for objects that already exist), the watch asks for bookmarks, a watch the server closes
/// is resumed from the last resourceVersion seen, and 410 Gone (or any failure) starts again with a LIST.
/// Each watch event is handed to <c>onEvent</c> and awaited before the next is read, so one object's events stay in order.
/// </summary>
internal sealed class ResourceWatcher(
    ApiServer api, ResourceSpec resource, string? ns, Func<string, JsonObject, CancellationToken, Task> onEvent, TextWriter log)
{
    public async Task RunAsync(CancellationToken ct)
    {
        string? resourceVersion = null;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                resourceVersion ??= await ListAsync(ct);
                resourceVersion = await WatchAsync(resourceVersion, ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (ApiException e) when (e.Status == 410)
            {
                Log($"{resource}: resourceVersion {resourceVersion} is gone (410); listing again, no events for what the list holds");
                resourceVersion = null;
            }
            catch (Exception e) when (e is ApiException or HttpRequestException or IOException or JsonException or OperationCanceledException)
            {
                Log($"{resource}: {e.Message}; listing again in 1 s");
                resourceVersion = null;
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), ct);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private async Task<string> ListAsync(CancellationToken ct)
    {
        // One item is enough: a LIST's resourceVersion is that of the whole snapshot, and the items are not needed.
        var list = await api.JsonAsync(HttpMethod.Get, resource.Path(ns) + Query("limit=1"), null, ct);
        return (string)list["metadata"]!["resourceVersion"]!;
    }

    /// <summary>Reads one watch to its end; the resourceVersion to resume from.</summary>
    private async Task<string> WatchAsync(string resourceVersion, CancellationToken ct)
    {
        // The reflector asks for a random 5-10 minute timeout, so a watch is re-made now and then.
        var timeout = 300 + Random.Shared.Next(300);
        var query = Query($"watch=1&resourceVersion={Uri.EscapeDataString(resourceVersion)}&allowWatchBookmarks=true&timeoutSeconds={timeout}");
        using var response = await api.SendAsync(HttpMethod.Get, resource.Path(ns) + query, null, stream: true, ct);
        if (!response.IsSuccessStatusCode)
        {
            throw new ApiException((int)response.StatusCode, $"watch: {(int)response.StatusCode} {ApiException.Brief(await response.Content.ReadAsStringAsync(ct))}");
        }

        Log($"{resource}: watching{(ns is null ? "" : " in " + ns)} from resourceVersion {resourceVersion}");
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(ct));
        while (await reader.ReadLineAsync(ct) is { } line)
        {
            if (line.Length == 0)
            {
                continue;
            }

            var watchEvent = JsonNode.Parse(line)!.AsObject();
            var type = (string)watchEvent["type"]!;
            var obj = watchEvent["object"]!.AsObject();
            if (type == "ERROR")
            {
                throw new ApiException((int?)obj["code"] ?? 500, $"watch error: {ApiException.Brief(obj.ToJsonString())}");
            }

            resourceVersion = (string?)obj["metadata"]?["resourceVersion"] ?? resourceVersion;
            if (type != "BOOKMARK")
            {
                await onEvent(type, obj, ct);
            }
        }

        return resourceVersion;
    }

    private string Query(string query) =>
        "?" + query + (resource.LabelSelector is { } selector ? "&labelSelector=" + Uri.EscapeDataString(selector) : "");

    private void Log(string message)
    {
        lock (log)
        {
            log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{DateTime.UtcNow:HH:mm:ss.fff} {message}"));
            log.Flush();
        }
    }
}
