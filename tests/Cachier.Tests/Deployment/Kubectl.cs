using System.ComponentModel;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Cachier.Tests.DeploymentChecks;

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
/// Runs the real <c>kubectl</c> against the cluster whose kubeconfig path is in <c>CACHIER_TEST_KUBECONFIG</c>
/// (for the local API server of <c>scripts/local-cluster.sh up</c>: <c>/tmp/cachier-cluster/kubeconfig</c>).
/// </summary>
public sealed class Kubectl
{
    public const string KubeconfigVariable = "CACHIER_TEST_KUBECONFIG";

    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(90);

    internal Kubectl(string kubeconfig) => Kubeconfig = kubeconfig;

    public string Kubeconfig { get; }

    /// <summary>Fails, never skips, when the cluster is not configured: a skipped check is a check that did not run.</summary>
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

        return new Kubectl(Path.GetFullPath(path));
    }

    public async Task<KubectlResult> RunAsync(IEnumerable<string> args, string? stdin = null)
    {
        var start = new ProcessStartInfo("kubectl")
        {
            RedirectStandardInput = stdin is not null,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Repository.Root,
        };
        start.ArgumentList.Add("--kubeconfig");
        start.ArgumentList.Add(Kubeconfig);
        start.ArgumentList.Add("--request-timeout=30s");
        foreach (var arg in args)
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
            throw new InvalidOperationException($"kubectl is not on PATH ({e.Message}); the deployment tests need it.", e);
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

            using var timeout = new CancellationTokenSource(RunTimeout);
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"`{commandLine}` did not finish within {RunTimeout.TotalSeconds} s");
            }

            return new KubectlResult(commandLine, process.ExitCode, await stdout, await stderr);
        }
    }

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
        var result = await RunAsync(args);
        var answer = result.Stdout.Trim();
        return answer switch
        {
            "yes" when result.ExitCode == 0 => true,
            _ when answer.StartsWith("no", StringComparison.Ordinal) && result.ExitCode == 1 => false,
            _ => throw new InvalidOperationException($"`{result.CommandLine}` gave no yes/no answer (exit code {result.ExitCode}):\n{result.Stderr}\n{result.Stdout}"),
        };
    }
}
