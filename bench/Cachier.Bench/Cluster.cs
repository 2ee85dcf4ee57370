using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Cachier.Bench;

/// <summary>Setting up and inspecting the bench's workloads, as the cluster admin (never counted as the function's calls).</summary>
public sealed class Cluster(BenchEnv env) : IDisposable
{
    // Set-up calls only. A DELETE collection of 2,000 Images is deleted one by one by the API server (one worker by default):
    // on a busy machine that took longer than the 30 s the measured clients wait.
    private readonly HttpClient _admin = Http.ApiClient(env, env.AdminToken, "cachier-bench-setup/1.0", TimeSpan.FromMinutes(5));

    public static string Image(string workload, int index) => $"registry.example.com/bench/{workload}-c{index}:1.0";

    public async Task EnsureNamespaceAsync(string ns)
    {
        using var response = await _admin.PostAsync("/api/v1/namespaces", Http.Json(new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Namespace",
            ["metadata"] = new JsonObject { ["name"] = ns, ["labels"] = new JsonObject { ["app.kubernetes.io/part-of"] = "cachier-bench" } },
        }.ToJsonString()));
        if (response.StatusCode != HttpStatusCode.Conflict)
        {
            await EnsureAsync(response, $"create namespace {ns}");
        }
    }

    /// <summary>A Deployment with one container per image, zero replicas (no pods: this cluster has no kubelet).</summary>
    public async Task CreateDeploymentAsync(string ns, string name, IReadOnlyList<string> images, IReadOnlyDictionary<string, string>? annotations = null)
    {
        var containers = new JsonArray(images.Select((image, i) => (JsonNode)new JsonObject { ["name"] = $"c{i}", ["image"] = image }).ToArray());
        var deployment = IdleDeployment.Manifest(ns, name, containers, annotations);
        using var response = await _admin.PostAsync($"/apis/apps/v1/namespaces/{ns}/deployments", Http.Json(deployment.ToJsonString()));
        await EnsureAsync(response, $"create deployment {ns}/{name}");
    }

    public async Task CreateDeploymentsAsync(string ns, IEnumerable<(string Name, IReadOnlyList<string> Images)> workloads, int parallelism = 4) =>
        await Parallel.ForEachAsync(workloads, new ParallelOptions { MaxDegreeOfParallelism = parallelism },
            async (w, _) => await CreateDeploymentAsync(ns, w.Name, w.Images));

    public async Task CreateSecretAsync(string ns, string name)
    {
        using var response = await _admin.PostAsync($"/api/v1/namespaces/{ns}/secrets",
            Http.Json($$$"""{"apiVersion":"v1","kind":"Secret","metadata":{"name":"{{{name}}}"},"stringData":{"password":"not-for-cachier"}}"""));
        await EnsureAsync(response, $"create secret {ns}/{name}");
    }

    public async Task<string> GetJsonAsync(string path)
    {
        using var response = await _admin.GetAsync(path);
        await EnsureAsync(response, $"GET {path}");
        return await response.Content.ReadAsStringAsync();
    }

    public Task<string> GetDeploymentJsonAsync(string ns, string name) => GetJsonAsync($"/apis/apps/v1/namespaces/{ns}/deployments/{name}");

    /// <summary>Strategic merge patch: containers are merged by name, so one image can change alone.</summary>
    public async Task SetImageAsync(string ns, string name, string container, string image)
    {
        var patch = new JsonObject
        {
            ["spec"] = new JsonObject
            {
                ["template"] = new JsonObject
                {
                    ["spec"] = new JsonObject { ["containers"] = new JsonArray(new JsonObject { ["name"] = container, ["image"] = image }) },
                },
            },
        }.ToJsonString();
        await PatchAsync($"/apis/apps/v1/namespaces/{ns}/deployments/{name}", patch, "application/strategic-merge-patch+json");
    }

    public Task AnnotateAsync(string ns, string name, string key, string value) =>
        PatchAsync($"/apis/apps/v1/namespaces/{ns}/deployments/{name}",
            new JsonObject { ["metadata"] = new JsonObject { ["annotations"] = new JsonObject { [key] = value } } }.ToJsonString(),
            "application/merge-patch+json");

    /// <summary>The first ReplicaSet the Deployment controller made for a Deployment (controlled: not cached by default).</summary>
    public async Task<string?> WaitForReplicaSetAsync(string ns, string deployment, TimeSpan timeout)
    {
        string? name = null;
        await PollAsync(async () =>
        {
            using var doc = JsonDocument.Parse(await GetJsonAsync($"/apis/apps/v1/namespaces/{ns}/replicasets?labelSelector=app%3D{deployment}"));
            var items = doc.RootElement.GetProperty("items");
            name = items.GetArrayLength() > 0 ? items[0].GetProperty("metadata").GetProperty("name").GetString() : null;
            return name is not null;
        }, timeout, TimeSpan.FromMilliseconds(100));
        return name;
    }

    /// <summary>Images of one workload, by controller label.</summary>
    public async Task<List<(string Name, string Image, string? Generation)>> ImagesAsync(string ns, string? controllerUid = null)
    {
        var selector = controllerUid is null ? "controller" : $"controller%3D{controllerUid}";
        using var doc = JsonDocument.Parse(await GetJsonAsync($"/apis/caching.internal.knative.dev/v1alpha1/namespaces/{ns}/images?labelSelector={selector}"));
        return doc.RootElement.GetProperty("items").EnumerateArray().Select(i => (
            i.GetProperty("metadata").GetProperty("name").GetString()!,
            i.GetProperty("spec").GetProperty("image").GetString()!,
            i.GetProperty("metadata").TryGetProperty("labels", out var l) && l.TryGetProperty("generation", out var g) ? g.GetString() : null)).ToList();
    }

    /// <summary>Deletes every Image of a namespace (one DELETE collection; Images have no finalizers).</summary>
    public async Task DeleteImagesAsync(string ns)
    {
        using var response = await _admin.DeleteAsync($"/apis/caching.internal.knative.dev/v1alpha1/namespaces/{ns}/images");
        await EnsureAsync(response, $"delete images in {ns}");
    }

    public async Task<string> UidAsync(string ns, string name)
    {
        using var doc = JsonDocument.Parse(await GetDeploymentJsonAsync(ns, name));
        return doc.RootElement.GetProperty("metadata").GetProperty("uid").GetString()!;
    }

    /// <summary>A request only the admin makes, with a unique path: once it is in the audit log, so is everything before it.</summary>
    public async Task<string> AuditMarkerAsync(string ns)
    {
        var name = $"audit-marker-{Guid.NewGuid():N}";
        using var response = await _admin.GetAsync($"/api/v1/namespaces/{ns}/configmaps/{name}");
        return name;
    }

    /// <summary>
    /// Waits (bounded) until the API server answers /readyz: on a shared machine someone may restart it
    /// (fault tests); a measurement that met that is repeated, never reported.
    /// </summary>
    public async Task WaitApiServerReadyAsync(TimeSpan timeout)
    {
        var ready = await PollAsync(async () =>
        {
            try
            {
                using var response = await _admin.GetAsync("/readyz");
                return response.IsSuccessStatusCode;
            }
            catch (HttpRequestException)
            {
                return false; // down or restarting
            }
        }, timeout, TimeSpan.FromMilliseconds(250));
        if (!ready)
        {
            throw new TimeoutException($"the API server did not become ready within {timeout}");
        }
    }

    /// <summary>Runs a block; when it met errors (the API server went away), waits for the API server and runs it again (at most twice).</summary>
    public async Task<(Block Block, int Repeated)> RunCleanAsync(Func<Task<Block>> run, string what)
    {
        var repeated = 0;
        while (true)
        {
            var block = await run();
            if (block.Errors == 0 || repeated == 2)
            {
                return (block, repeated);
            }

            Console.Error.WriteLine($"bench: {what}: {block.Errors} errors ({block.FirstError}); waiting for the API server and repeating");
            repeated++;
            await WaitApiServerReadyAsync(TimeSpan.FromSeconds(120));
        }
    }

    /// <summary>
    /// Deletes a namespace and waits (bounded) until it is gone: the API server and the controllers delete its objects in
    /// the background, and a stage measured meanwhile would share the cores with that (1,000 Deployments after backfill).
    /// </summary>
    public async Task DeleteNamespaceAsync(string ns)
    {
        using (await _admin.DeleteAsync($"/api/v1/namespaces/{ns}"))
        {
        }

        var gone = await PollAsync(async () =>
        {
            using var response = await _admin.GetAsync($"/api/v1/namespaces/{ns}");
            return response.StatusCode == HttpStatusCode.NotFound;
        }, TimeSpan.FromMinutes(5), TimeSpan.FromMilliseconds(250));
        if (!gone)
        {
            Console.Error.WriteLine($"bench: namespace {ns} was still being deleted after 5 minutes; going on");
        }
    }

    /// <summary>Asks <paramref name="done"/> every <paramref name="interval"/> until it says yes (true) or <paramref name="timeout"/> has passed (false).</summary>
    private static async Task<bool> PollAsync(Func<Task<bool>> done, TimeSpan timeout, TimeSpan interval)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (await done())
            {
                return true;
            }

            await Task.Delay(interval);
        }

        return false;
    }

    private async Task PatchAsync(string path, string body, string mediaType)
    {
        using var content = new StringContent(body);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(mediaType);
        using var response = await _admin.PatchAsync(path, content);
        await EnsureAsync(response, $"PATCH {path}");
    }

    private static async Task EnsureAsync(HttpResponseMessage response, string what)
    {
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"{what}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
    }

    public void Dispose() => _admin.Dispose();
}
