using Cachier.Manifests;

namespace Cachier.Tests.DeploymentChecks;

/// <summary>
/// knative/ is the output of <c>cachier manifests</c> for the default kinds, byte for byte, so the watched kinds have
/// one source of truth (the list given to the command) and nobody edits the three places by hand.
/// </summary>
public sealed class GeneratedManifestsTests
{
    public static TheoryData<string> Parts => [.. ManifestSet.Parts];

    [Theory]
    [MemberData(nameof(Parts))]
    public void Knative_file_is_the_output_of_cachier_manifests_for_its_part(string part)
    {
        var (code, output, error) = Run($"--part={part}");

        Assert.True(code == 0, error);
        var file = File.ReadAllText(Path.Combine(Repository.KnativeDir, $"{part}.yaml"));
        Assert.True(file == output, $"knative/{part}.yaml is not the output of `cachier manifests --part={part}`: run scripts/manifests.sh");
    }

    [Fact]
    public void Knative_holds_exactly_the_generated_parts() =>
        Assert.Equal(ManifestSet.Parts.Select(p => $"{p}.yaml").Order(),
            Directory.GetFiles(Repository.KnativeDir).Select(Path.GetFileName).Order());

    [Fact]
    public void All_parts_print_the_namespace_once_and_every_other_object_of_each_part()
    {
        var all = Run().Output;
        var parts = ManifestSet.Parts.Select(p => Run($"--part={p}").Output).ToList();

        Assert.Equal(1, Count(all, "\nkind: Namespace\n"));
        Assert.Equal(parts.Sum(p => Count(p, "\n---\n")) - (parts.Count - 1), Count(all, "\n---\n"));
    }

    [Fact]
    public void Output_is_the_same_on_every_run() =>
        Assert.Equal(Run("--resource=Foo.v1.example.com/fooes").Output, Run("--resource=Foo.v1.example.com/fooes").Output);

    [Fact]
    public void A_custom_list_changes_the_function_the_source_and_the_warmer_in_step()
    {
        var (code, output, _) = Run("--resource=Deployment.v1.apps,Rollout.v1alpha1.argoproj.io", "--image=registry.example.com/cachier@sha256:0123", "--namespace=images");

        Assert.Equal(0, code);
        Assert.Contains("value: Deployment.v1.apps,Rollout.v1alpha1.argoproj.io\n", output);
        Assert.Contains("- apiGroups: [\"argoproj.io\"]\n  resources: [\"rollouts\"]\n  verbs: [\"get\", \"list\"]\n", output);
        Assert.Contains("- apiGroups: [\"argoproj.io\"]\n  resources: [\"rollouts/finalizers\"]\n  verbs: [\"update\"]\n", output);
        Assert.Contains("- apiGroups: [\"argoproj.io\"]\n  resources: [\"rollouts\"]\n  verbs: [\"get\", \"list\", \"watch\"]\n", output);
        Assert.Contains("- apiGroups: [\"argoproj.io\"]\n  resources: [\"rollouts\"]\n  verbs: [\"get\"]\n", output);
        Assert.Contains("  - apiVersion: argoproj.io/v1alpha1\n    kind: Rollout\n", output);
        Assert.DoesNotContain("batch", output);
        Assert.Equal(2, Count(output, "image: registry.example.com/cachier@sha256:0123\n"));
        Assert.DoesNotContain("cachier-system", output);
        Assert.Contains("audience: serving.knative.dev/service/images/cachier\n", output);
    }

    [Fact]
    public void Installs_in_two_namespaces_share_no_cluster_scoped_name_and_each_binding_names_its_own_role()
    {
        var first = ClusterScoped(Run().Output);
        var second = ClusterScoped(Run("--namespace=images").Output);

        Assert.Equal(10, first.Count);
        Assert.Equal(first.Count, second.Count);
        Assert.Empty(first.Select(o => o.Name).Intersect(second.Select(o => o.Name)));
        Assert.Contains(("ClusterRole", "cachier"), first.Select(o => (o.Kind, o.Name)));
        foreach (var install in new[] { first, second })
        {
            var roles = install.Where(o => o.Kind == "ClusterRole").Select(o => o.Name).ToHashSet();
            Assert.All(install.Where(o => o.Kind == "ClusterRoleBinding"), b => Assert.True(
                roles.Contains(b.Role!) || b.Role!.StartsWith("system:", StringComparison.Ordinal), $"{b.Name} binds {b.Role}, which is not in the install"));
        }
    }

    /// <summary>The ClusterRoles and ClusterRoleBindings of an output: kind, name and (for a binding) the role it names.</summary>
    private static List<(string Kind, string Name, string? Role)> ClusterScoped(string output) =>
        output.Split("\n---\n")
            .Select(d => System.Text.RegularExpressions.Regex.Match(d,
                @"^kind: (ClusterRole(?:Binding)?)\nmetadata:\n  name: (\S+)\n(?:[\s\S]*\nroleRef:\n(?:  .*\n)*?  name: (\S+)\n)?", System.Text.RegularExpressions.RegexOptions.Multiline))
            .Where(m => m.Success)
            .Select(m => (m.Groups[1].Value, m.Groups[2].Value, m.Groups[3].Success ? m.Groups[3].Value : null))
            .ToList();

    [Theory]
    [InlineData("--resource=deployments")]
    [InlineData("--part=everything")]
    [InlineData("--namespace=Not_A_Namespace")]
    [InlineData("--image=")]
    [InlineData("--verbose")]
    public void A_bad_argument_prints_nothing_and_exits_2(string arg)
    {
        var (code, output, error) = Run(arg);

        Assert.Equal((2, ""), (code, output));
        Assert.NotEmpty(error);
    }

    private static (int Code, string Output, string Error) Run(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = ManifestsCommand.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    private static int Count(string text, string what) => (text.Length - text.Replace(what, "", StringComparison.Ordinal).Length) / what.Length;
}
