// One source file, compiled into the tests (Integration/ClusterFixture) and linked into bench/resync: both give the
// function a kubeconfig of its own ServiceAccount's token for the local cluster. It depends on nothing of either project.
namespace Cachier.Tests.Support;

/// <summary>Kubeconfig files for the local cluster (scripts/local-cluster.sh).</summary>
public static class Kubeconfig
{
    /// <summary>A kubeconfig at <paramref name="path"/> for <paramref name="server"/> with one user entry (YAML flow mapping, such as <c>{token: ...}</c>).</summary>
    public static string Write(string server, string caData, string user, string path)
    {
        File.WriteAllText(path, $$"""
            apiVersion: v1
            kind: Config
            clusters:
            - name: local
              cluster: {server: '{{server}}', certificate-authority-data: {{caData}}}
            users:
            - name: u
              user: {{user}}
            contexts:
            - name: c
              context: {cluster: local, user: u}
            current-context: c
            """);
        return path;
    }

    /// <summary>A value of an admin kubeconfig as local-cluster.sh writes it (<c>server</c>, <c>certificate-authority-data</c>).</summary>
    public static string AdminValue(string adminKubeconfig, string key) =>
        File.ReadLines(adminKubeconfig).Select(l => l.Trim()).First(l => l.StartsWith(key + ":", StringComparison.Ordinal))[(key.Length + 1)..].Trim();
}
