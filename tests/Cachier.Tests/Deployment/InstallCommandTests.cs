using System.Text.RegularExpressions;
using Cachier.Manifests;

namespace Cachier.Tests.DeploymentChecks;

/// <summary>
/// The README's install and uninstall commands, taken from the README itself and run with <c>--dry-run=server</c>
/// against the local API server with the Knative CRDs: the default kinds (<c>kubectl apply -f knative/</c>) and a
/// custom list (<c>docker run IMAGE manifests ... | kubectl apply -f -</c>, the command run in-process here).
/// </summary>
[Collection(LocalClusterCollection.Name)]
public sealed partial class InstallCommandTests(LocalClusterFixture cluster)
{
    private static readonly string[] Readme = File.ReadAllLines(Path.Combine(Repository.Root, "README.md"));

    [Fact]
    public async Task Readme_install_of_the_default_kinds_passes_a_server_dry_run()
    {
        Assert.Contains("kubectl apply -f knative/", Readme);

        var result = await cluster.Kubectl.ExecAsync(["apply", "--dry-run=server", "-o", "json", "-f", "knative/"]);

        Assert.True(result.ExitCode == 0, $"`{result.CommandLine}` failed:\n{result.Stderr}");
        // Each file repeats the namespace, so that each applies on its own.
        var ns = result.Objects().First(o => (string?)o["kind"] == "Namespace");
        Assert.Equal("restricted", (string?)ns["metadata"]!["labels"]!["pod-security.kubernetes.io/enforce"]);
    }

    [Fact]
    public async Task Readme_install_of_a_custom_list_passes_a_server_dry_run_with_every_part_in_step()
    {
        var image = Readme.Select(l => ImageLine().Match(l)).Single(m => m.Success).Groups[1].Value;
        var command = Readme.Select(l => CustomInstallLine().Match(l)).Single(m => m.Success).Groups[1].Value;
        var args = command.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(a => a.Replace("\"$IMAGE\"", image, StringComparison.Ordinal)).ToList();
        using var output = new StringWriter();
        Assert.Equal(0, ManifestsCommand.Run(args, output, TextWriter.Null));

        var result = await cluster.Kubectl.ExecAsync(["apply", "--dry-run=server", "-o", "json", "-f", "-"], stdin: output.ToString());

        Assert.True(result.ExitCode == 0, $"`{result.CommandLine}` failed:\n{result.Stderr}");
        var objects = result.Objects();
        var kinds = Manifests.WatchedKinds(objects);
        Assert.Contains(kinds, k => (k.Kind, k.ApiVersion, k.Plural) == ("Rollout", "argoproj.io/v1alpha1", "rollouts"));
        Assert.Equal(image, (string?)Manifests.Container(Manifests.Find(objects, "Service", "cachier"))["image"]);
        Assert.Equal(image, (string?)Manifests.Container(Manifests.Find(objects, "Service", "cachier-warmer"))["image"]);
        var sourceKinds = Manifests.Find(objects, "ApiServerSource", "cachier")["spec"]!["resources"]!.AsArray().Select(r => ((string?)r!["apiVersion"], (string?)r["kind"]));
        Assert.Equal(kinds.Select(k => ((string?)k.ApiVersion, (string?)k.Kind)), sourceKinds);
        foreach (var (role, verb) in new[] { ("cachier", "list"), ("cachier", "update"), ("cachier-source", "watch"), ("cachier-warmer", "get") })
        {
            var grants = Manifests.Grants(Manifests.Find(objects, "ClusterRole", role));
            var resource = verb == "update" ? "rollouts/finalizers" : "rollouts";
            Assert.True(grants.Contains(("argoproj.io", resource, verb)), $"ClusterRole {role} must grant {verb} {resource}.argoproj.io");
        }
    }

    [Fact]
    public async Task Readme_uninstall_passes_a_server_dry_run()
    {
        Assert.Contains(Readme, l => l.StartsWith("kubectl delete --ignore-not-found -f knative/", StringComparison.Ordinal));

        var result = await cluster.Kubectl.ExecAsync(["delete", "--dry-run=server", "--ignore-not-found", "-f", "knative/"]);

        Assert.True(result.ExitCode == 0, $"`{result.CommandLine}` failed:\n{result.Stderr}");
        Assert.Contains("clusterrole.rbac.authorization.k8s.io \"cachier\" deleted (server dry run)", result.Stdout);
    }

    [GeneratedRegex("""^IMAGE=(\S+)$""")]
    private static partial Regex ImageLine();

    [GeneratedRegex("""^docker run --rm "\$IMAGE" manifests (.+) \| kubectl apply -f -$""")]
    private static partial Regex CustomInstallLine();
}
