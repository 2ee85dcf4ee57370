using System.Text.RegularExpressions;

namespace Cachier.Tests.DeploymentChecks;

/// <summary>
/// There is no Docker engine in CI: scripts/publish.sh proves the image's Native AOT build by running the
/// Dockerfile's restore and publish commands. These tests keep the two files saying the same thing, and check the
/// Dockerfile's shape that no build here would catch. (No cluster needed.)
/// </summary>
public sealed partial class PublishCommandTests
{
    [Fact]
    public void Publish_script_runs_the_restore_and_publish_of_the_dockerfile()
    {
        var docker = File.ReadLines(Repository.Dockerfile)
            .Select(l => l.Trim())
            .Where(l => l.StartsWith("RUN dotnet ", StringComparison.Ordinal))
            .Select(l => Normalize(l["RUN ".Length..]))
            .ToList();
        var script = File.ReadLines(Repository.PublishScript)
            .Select(l => l.Trim())
            .Where(l => l.StartsWith("dotnet restore ", StringComparison.Ordinal) || l.StartsWith("dotnet publish ", StringComparison.Ordinal))
            .Select(Normalize)
            .ToList();

        Assert.Equal(2, docker.Count);
        Assert.StartsWith("dotnet restore function/Cachier.csproj", docker[0]);
        Assert.StartsWith("dotnet publish function/Cachier.csproj", docker[1]);
        Assert.Contains("-r linux-x64", docker[1]);
        Assert.Equal(docker, script);
    }

    [Fact]
    public void Dockerfile_restores_before_copying_the_code_and_runs_as_non_root_on_port_8080()
    {
        var lines = File.ReadLines(Repository.Dockerfile).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        int Index(string prefix) => lines.FindIndex(l => l.StartsWith(prefix, StringComparison.Ordinal));

        var stages = lines.Where(l => l.StartsWith("FROM ", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, stages.Count);
        Assert.StartsWith("FROM mcr.microsoft.com/dotnet/sdk:10.0", stages[0]);
        Assert.StartsWith("FROM mcr.microsoft.com/dotnet/runtime-deps:10.0", stages[1]);

        // Restore layer: project files only, restored before the sources arrive.
        Assert.True(Index("COPY function/Cachier.csproj") < Index("RUN dotnet restore"));
        Assert.True(Index("RUN dotnet restore") < Index("COPY function/ "));
        Assert.True(Index("RUN apt-get") < Index("RUN dotnet publish"), "clang must be installed before the Native AOT publish");

        var runtime = lines.Skip(lines.IndexOf(stages[1])).ToList();
        var user = Assert.Single(runtime, l => l.StartsWith("USER ", StringComparison.Ordinal))["USER ".Length..].Trim();
        Assert.DoesNotContain(user, new[] { "root", "0", "0:0" });
        Assert.Contains(runtime, l => l == "EXPOSE 8080");
        Assert.Contains(runtime, l => l.StartsWith("ENV ", StringComparison.Ordinal) && l.Contains("PORT=8080", StringComparison.Ordinal));
        Assert.Contains(runtime, l => l.StartsWith("COPY --from=build ", StringComparison.Ordinal));
        Assert.DoesNotContain(runtime, l => l.StartsWith("COPY --from=build /app/ ", StringComparison.Ordinal));
    }

    /// <summary>The command without its output folder (<c>-o X</c>), the script's linker choice, and redirections.</summary>
    private static string Normalize(string command)
    {
        var tokens = Whitespace().Split(command).TakeWhile(t => !t.StartsWith("2>", StringComparison.Ordinal) && t != "|").ToList();
        var kept = new List<string>();
        for (var i = 0; i < tokens.Count; i++)
        {
            if (tokens[i] is "-o" or "--output")
            {
                i++;
            }
            else if (!tokens[i].Contains("LINKER_ARGS", StringComparison.Ordinal))
            {
                kept.Add(tokens[i]);
            }
        }

        return string.Join(' ', kept);
    }

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();
}
