using System.Diagnostics;

namespace Cachier.Bench.Resync;

/// <summary>The real kubectl, one process per call; arguments as a list, so nothing is split or unquoted; killed with its tree on timeout.</summary>
public sealed class Kubectl(string kubeconfig)
{
    public string Kubeconfig { get; } = kubeconfig;

    public async Task<string> RunAsync(IEnumerable<string> arguments, string? stdin = null)
    {
        var (code, stdout, stderr) = await TryRunAsync(arguments, stdin);
        return code == 0
            ? stdout
            : throw new InvalidOperationException($"kubectl {string.Join(' ', arguments)} exited {code}: {stderr.Trim()}");
    }

    public async Task<(int Code, string Stdout, string Stderr)> TryRunAsync(IEnumerable<string> arguments, string? stdin = null)
    {
        var start = new ProcessStartInfo("kubectl")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.ArgumentList.Add("--kubeconfig");
        start.ArgumentList.Add(Kubeconfig);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
        }

        process.StandardInput.Close();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(10));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            // Not left running behind the bench: kubectl and whatever it started.
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"kubectl {string.Join(' ', arguments)} did not finish within 10 minutes");
        }

        return (process.ExitCode, await stdout, await stderr);
    }
}
