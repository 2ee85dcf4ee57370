using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Cachier.Tests.Integration;

/// <summary>Runs the real kubectl against the local API server, as an operator would.</summary>
public sealed class Kubectl(string kubeconfig)
{
    public string Kubeconfig { get; } = kubeconfig;

    public async Task<string> RunAsync(string arguments, string? stdin = null, bool check = true)
    {
        var (code, stdout, stderr) = await TryRunAsync(arguments, stdin);
        if (check && code != 0)
        {
            throw new InvalidOperationException($"kubectl {arguments} exited {code}: {stderr.Trim()}");
        }

        return stdout;
    }

    public async Task<(int Code, string Stdout, string Stderr)> TryRunAsync(string arguments, string? stdin = null)
    {
        var start = new ProcessStartInfo("kubectl", $"--kubeconfig {Kubeconfig} {arguments}")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
        }

        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(12));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout, await stderr);
    }

    public Task ApplyAsync(string manifest) => RunAsync("apply -f -", manifest);

    public async Task<JsonObject> GetAsync(string what, string ns) =>
        JsonNode.Parse(await RunAsync($"get {what} -n {ns} -o json"))!.AsObject();

    /// <summary>The Images in a namespace, as the API server has them.</summary>
    public async Task<List<JsonObject>> ImagesAsync(string ns) =>
        (await GetAsync("images.caching.internal.knative.dev", ns))["items"]!.AsArray().Select(i => i!.AsObject()).ToList();

    /// <summary>
    /// Waits until the API server's authorizer lets <paramref name="user"/> do what a new (Cluster)RoleBinding grants:
    /// RBAC reads bindings from a watch cache, so a binding is not in force the moment kubectl has created it.
    /// </summary>
    public async Task WaitUntilAllowedAsync(string user, string verb, string resource)
    {
        var rbac = new DeploymentChecks.Kubectl(Kubeconfig);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!await rbac.CanIAsync(user, verb, resource, ns: null))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{user} may still not {verb} {resource} in all namespaces after 30 s");
            }
        }
    }
}
