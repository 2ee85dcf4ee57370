using System.ComponentModel;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Cachier.Tests.Support;

/// <summary>What one kubectl run printed and returned.</summary>
public sealed record KubectlResult(string CommandLine, int ExitCode, string Stdout, string Stderr)
{
    public KubectlResult EnsureSuccess() => ExitCode == 0
        ? this
        : throw new InvalidOperationException($"`{CommandLine}` failed with exit code {ExitCode}:\n{Stderr}\n{Stdout}".TrimEnd());

    /// <summary>The objects of <c>-o json</c> output: one object, several in a row, or a <c>List</c>.</summary>
    public IReadOnlyList<JsonObject> Objects()
    {
        var objects = new List<JsonObject>();
        var reader = new Utf8JsonReader(Encoding.UTF8.GetBytes(Stdout), new JsonReaderOptions { AllowMultipleValues = true });
        while (reader.Read())
        {
            var node = JsonNode.Parse(ref reader)?.AsObject()
                ?? throw new InvalidOperationException($"`{CommandLine}` printed a JSON null");
            if ((string?)node["kind"] == "List")
            {
                objects.AddRange(node["items"]!.AsArray().Select(item => item!.AsObject()));
            }
            else
            {
                objects.Add(node);
            }
        }

        return objects;
    }
}

/// <summary>
/// Runs the real <c>kubectl</c>, as an operator would, one process per call. Arguments go as an argument list (a path
/// or a value with spaces stays one argument); a run that outlives its bound is killed with its whole process tree.
/// </summary>
public sealed class Kubectl
{
    public const string KubeconfigVariable = "CACHIER_TEST_KUBECONFIG";

    private readonly TimeSpan _runTimeout;
    private readonly string[] _common;
    private readonly string? _workingDirectory;

    /// <param name="kubeconfig">The cluster to talk to.</param>
    /// <param name="runTimeout">How long one run may take (default 12 minutes: a <c>wait --timeout=600s</c> must fit).</param>
    /// <param name="requestTimeout">kubectl's own bound per API request, when one is wanted.</param>
    /// <param name="workingDirectory">Where kubectl runs (relative paths); default the repository root.</param>
    public Kubectl(string kubeconfig, TimeSpan? runTimeout = null, string? requestTimeout = null, string? workingDirectory = null)
    {
        Kubeconfig = kubeconfig;
        _workingDirectory = workingDirectory;
        _runTimeout = runTimeout ?? TimeSpan.FromMinutes(12);
        _common = requestTimeout is null ? ["--kubeconfig", kubeconfig] : ["--kubeconfig", kubeconfig, $"--request-timeout={requestTimeout}"];
    }

    public string Kubeconfig { get; }

    /// <summary>
    /// The cluster of <c>CACHIER_TEST_KUBECONFIG</c>, with short bounds (90 s a run, 30 s a request). Fails, never skips,
    /// when the cluster is not configured: a skipped check is a check that did not run.
    /// </summary>
    public static Kubectl FromEnvironment()
    {
        var path = Environment.GetEnvironmentVariable(KubeconfigVariable);
        if (string.IsNullOrWhiteSpace(path))
        {
            throw new InvalidOperationException(
                $"{KubeconfigVariable} is not set. The deployment tests run kubectl against a real API server that has the Knative CRDs: " +
                "start one with `scripts/local-cluster.sh up`, then run " +
                $"`{KubeconfigVariable}=/tmp/cachier-cluster/kubeconfig dotnet test tests/Cachier.Tests --filter \"FullyQualifiedName~Cachier.Tests.Deployment\"`.");
        }

        if (!File.Exists(path))
        {
            throw new InvalidOperationException($"{KubeconfigVariable}={path}, but that file does not exist (is the cluster up? `scripts/local-cluster.sh status`).");
        }

        return new Kubectl(Path.GetFullPath(path), TimeSpan.FromSeconds(90), "30s");
    }

    /// <summary>Runs kubectl with <paramref name="args"/>; whatever the exit code, the result says it.</summary>
    public async Task<KubectlResult> ExecAsync(IEnumerable<string> args, string? stdin = null)
    {
        var start = new ProcessStartInfo("kubectl")
        {
            RedirectStandardInput = stdin is not null,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = _workingDirectory ?? Repository.Root,
        };
        foreach (var arg in _common.Concat(args))
        {
            start.ArgumentList.Add(arg);
        }

        var commandLine = "kubectl " + string.Join(' ', start.ArgumentList.Skip(2));
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException($"`{commandLine}` did not start");
        }
        catch (Win32Exception e)
        {
            throw new InvalidOperationException($"kubectl is not on PATH ({e.Message}); the tests need it.", e);
        }

        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (stdin is not null)
            {
                await process.StandardInput.WriteAsync(stdin);
                process.StandardInput.Close();
            }

            using var timeout = new CancellationTokenSource(_runTimeout);
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"`{commandLine}` did not finish within {_runTimeout.TotalSeconds} s");
            }

            return new KubectlResult(commandLine, process.ExitCode, await stdout, await stderr);
        }
    }

    /// <summary>The standard output of a run that must succeed (with <paramref name="check"/> false: of any run).</summary>
    public async Task<string> RunAsync(IEnumerable<string> args, string? stdin = null, bool check = true)
    {
        var result = await ExecAsync(args, stdin);
        return (check ? result.EnsureSuccess() : result).Stdout;
    }

    /// <summary>
    /// <see cref="RunAsync(IEnumerable{string}, string?, bool)"/> for a command line whose words hold no spaces (split on
    /// spaces, never quoted or unquoted); an argument with a space goes in the list form.
    /// </summary>
    public Task<string> RunAsync(string words, string? stdin = null, bool check = true) => RunAsync(Words(words), stdin, check);

    public Task<(int Code, string Stdout, string Stderr)> TryRunAsync(string words, string? stdin = null) => TryRunAsync(Words(words), stdin);

    public async Task<(int Code, string Stdout, string Stderr)> TryRunAsync(IEnumerable<string> args, string? stdin = null)
    {
        var result = await ExecAsync(args, stdin);
        return (result.ExitCode, result.Stdout, result.Stderr);
    }

    public Task ApplyAsync(string manifest) => RunAsync(["apply", "-f", "-"], manifest);

    public async Task<JsonObject> GetAsync(string what, string ns) =>
        JsonNode.Parse(await RunAsync(["get", .. Words(what), "-n", ns, "-o", "json"]))!.AsObject();

    /// <summary>The Images in a namespace, as the API server has them.</summary>
    public async Task<List<JsonObject>> ImagesAsync(string ns) =>
        (await GetAsync("images.caching.internal.knative.dev", ns))["items"]!.AsArray().Select(i => i!.AsObject()).ToList();

    /// <summary>
    /// <c>kubectl auth can-i VERB RESOURCE --as USER</c>, in one namespace or in all (<paramref name="ns"/> null).
    /// kubectl answers "yes" (exit code 0) or "no" (exit code 1); anything else is an error, not a "no".
    /// A subresource is written <c>resource/subresource</c> (<c>pods/exec</c>).
    /// </summary>
    public async Task<bool> CanIAsync(string user, string verb, string resource, string? ns)
    {
        var slash = resource.IndexOf('/', StringComparison.Ordinal);
        List<string> args = slash < 0
            ? ["auth", "can-i", verb, resource, $"--as={user}"]
            : ["auth", "can-i", verb, resource[..slash], $"--subresource={resource[(slash + 1)..]}", $"--as={user}"];
        args.AddRange(ns is null ? ["--all-namespaces"] : ["--namespace", ns]);
        var result = await ExecAsync(args);
        var answer = result.Stdout.Trim();
        return answer switch
        {
            "yes" when result.ExitCode == 0 => true,
            _ when answer.StartsWith("no", StringComparison.Ordinal) && result.ExitCode == 1 => false,
            _ => throw new InvalidOperationException($"`{result.CommandLine}` gave no yes/no answer (exit code {result.ExitCode}):\n{result.Stderr}\n{result.Stdout}"),
        };
    }

    /// <summary>
    /// Waits until the API server's authorizer lets <paramref name="user"/> do what a new (Cluster)RoleBinding grants:
    /// RBAC reads bindings from a watch cache, so a binding is not in force the moment kubectl has created it.
    /// </summary>
    public async Task WaitUntilAllowedAsync(string user, string verb, string resource)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!await CanIAsync(user, verb, resource, ns: null))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{user} may still not {verb} {resource} in all namespaces after 30 s");
            }
        }
    }

    private static string[] Words(string words) => words.Split(' ', StringSplitOptions.RemoveEmptyEntries);
}
