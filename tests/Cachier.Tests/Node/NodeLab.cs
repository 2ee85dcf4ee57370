using System.Diagnostics;
using System.Text.Json.Nodes;
using Cachier.Tests.Integration;
using Cachier.Tests.Support;

namespace Cachier.Tests.Node;

/// <summary>
/// A test of the node lab (<c>scripts/local-cluster.sh up --node</c>): skipped unless its exports
/// (<c>eval "$(scripts/local-cluster.sh env)"</c>) are in the environment.
/// </summary>
public sealed class NodeFactAttribute : FactAttribute
{
    public NodeFactAttribute()
    {
        if (!NodeLab.IsUp)
        {
            Skip = "no node lab: run scripts/local-cluster.sh up --node, then eval \"$(scripts/local-cluster.sh env)\"";
        }
    }
}

[CollectionDefinition(Name)]
public sealed class NodeCollection : ICollectionFixture<NodeLab>
{
    public const string Name = "node";
}

/// <summary>The node lab as its environment exports describe it: nodes, registries, containerd sockets.</summary>
public sealed class NodeLab
{
    public static bool IsUp => Env("CACHIER_NODES") is not null && Env("CACHIER_REGISTRY") is not null;

    public Kubectl Admin { get; } = new(Env("CACHIER_TEST_KUBECONFIG") ?? Env("KUBECONFIG")
        ?? throw new InvalidOperationException("neither CACHIER_TEST_KUBECONFIG nor KUBECONFIG is set"));

    /// <summary>The node names (IP-shaped: each node's InternalIP is its name).</summary>
    public IReadOnlyList<string> Nodes { get; } = List("CACHIER_NODES");

    /// <summary>containerd's socket of each node, in the order of <see cref="Nodes"/>.</summary>
    public IReadOnlyList<string> ContainerdSockets { get; } = List("CACHIER_CONTAINERD_SOCKETS");

    /// <summary>The plain registry, host:port (lab/pause:1, lab/busybox:1, lab/large:1).</summary>
    public string Registry { get; } = Env("CACHIER_REGISTRY") ?? "";

    /// <summary>The same registry through the bandwidth-limited proxy.</summary>
    public string SlowRegistry { get; } = Env("CACHIER_REGISTRY_SLOW") ?? "";

    /// <summary>The registry with basic auth (private/busybox:1), and its user:password.</summary>
    public string PrivateRegistry { get; } = Env("CACHIER_PRIVATE_REGISTRY") ?? "";

    public string PrivateRegistryAuth { get; } = Env("CACHIER_PRIVATE_REGISTRY_AUTH") ?? "";

    public async Task<string> NamespaceAsync()
    {
        var ns = $"node-{Guid.NewGuid():N}"[..15];
        await Admin.RunAsync($"create namespace {ns}");
        return ns;
    }

    /// <summary>
    /// A pod of the warmer's pull-pod shape: pinned to <paramref name="node"/>, never restarted, no token, the
    /// restricted security context, running /bin/true of <paramref name="image"/> (a busybox image).
    /// </summary>
    public static string Pod(string ns, string name, string node, string image, string? pullSecret = null) => $$"""
        apiVersion: v1
        kind: Pod
        metadata: {name: {{name}}, namespace: {{ns}}}
        spec:
          nodeName: "{{node}}"
          restartPolicy: Never
          automountServiceAccountToken: false
          activeDeadlineSeconds: 300
          {{(pullSecret is null ? "" : $"imagePullSecrets: [{{name: {pullSecret}}}]")}}
          securityContext:
            runAsNonRoot: true
            runAsUser: 65532
            runAsGroup: 65532
            seccompProfile: {type: RuntimeDefault}
          containers:
          - name: main
            image: {{image}}
            imagePullPolicy: IfNotPresent
            command: [/bin/true]
            securityContext:
              allowPrivilegeEscalation: false
              readOnlyRootFilesystem: true
              capabilities: {drop: [ALL]}
            resources:
              requests: {cpu: 10m, memory: 16Mi}
              limits: {cpu: 100m, memory: 32Mi}
        """;

    /// <summary>Waits (watching, through kubectl wait) until the pod's phase is Succeeded; fails with its status.</summary>
    public async Task WaitSucceededAsync(string ns, string pod, int seconds = 180)
    {
        var (code, _, stderr) = await Admin.TryRunAsync(
            $"wait pod/{pod} -n {ns} --for=jsonpath={{.status.phase}}=Succeeded --timeout={seconds}s");
        if (code != 0)
        {
            var status = await Admin.RunAsync($"get pod/{pod} -n {ns} -o jsonpath={{.status}}", check: false);
            throw new Xunit.Sdk.XunitException($"pod {ns}/{pod} did not succeed within {seconds} s ({stderr.Trim()}): {status}");
        }
    }

    /// <summary>The pod once <paramref name="done"/> holds for it (polling; each kubectl call paces the next).</summary>
    public Task<JsonObject> WaitPodAsync(string ns, string pod, Func<JsonObject, bool> done, int seconds = 120) =>
        Poll.UntilAsync(() => Admin.GetAsync($"pod/{pod}", ns), done, TimeSpan.FromSeconds(seconds), json => $"pod {ns}/{pod} as expected: {json["status"]}");

    /// <summary>Runs ctr (containerd's client) against a node's containerd, in the CRI's namespace.</summary>
    public static async Task<string> CtrAsync(string socket, string arguments)
    {
        var start = new ProcessStartInfo("ctr", $"--address {socket} -n k8s.io {arguments}")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        return process.ExitCode == 0
            ? await stdout
            : throw new InvalidOperationException($"ctr {arguments} exited {process.ExitCode}: {await stderr}");
    }

    /// <summary>
    /// Makes the next pull of <paramref name="repository"/> a real one on every node: removes the containers that
    /// hold its layers (of pods already gone) and every reference to it, through containerd; then waits until no node
    /// lists it. The warmer skips a node that lists the image, and the kubelet's list trails the runtime (its image
    /// cache is refreshed every 30 s): a node that holds the image but does not list it yet is first waited for, so that
    /// a list from before the removal is not taken for one from after it.
    /// </summary>
    public async Task RemoveImageAsync(string repository, bool waitForNodeLists = true)
    {
        if (waitForNodeLists)
        {
            var held = new List<string>();
            for (var i = 0; i < ContainerdSockets.Count; i++)
            {
                if ((await CtrAsync(ContainerdSockets[i], "images ls -q")).Contains(repository, StringComparison.Ordinal))
                {
                    held.Add(Nodes[i]);
                }
            }

            await WaitNodeListsAsync(repository, listed => held.All(listed.Contains), "every node that holds it to list it");
        }

        foreach (var socket in ContainerdSockets)
        {
            var containers = (await CtrAsync(socket, "containers ls")).Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1)
                .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                .Where(f => f.Length > 1 && f[1].Contains(repository, StringComparison.Ordinal))
                .Select(f => f[0]);
            foreach (var id in containers)
            {
                // Their snapshots would let the next "pull" skip the layers; the kubelet removes them only at its next GC.
                await TryCtrAsync(socket, $"tasks rm -f {id}");
                await TryCtrAsync(socket, $"containers rm {id}");
            }

            // Every reference that holds the image's content: its names and the CRI's image-id reference (sha256:...).
            var rows = (await CtrAsync(socket, "images ls")).Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1)
                .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Where(f => f.Length > 2).Select(f => (Ref: f[0], Digest: f[2])).ToList();
            var digests = rows.Where(r => r.Ref.Contains(repository, StringComparison.Ordinal)).Select(r => r.Digest).ToHashSet();
            foreach (var (reference, _) in rows.Where(r => digests.Contains(r.Digest)))
            {
                await TryCtrAsync(socket, $"images rm --sync {reference}");
            }
        }

        if (waitForNodeLists)
        {
            await WaitNodeListsAsync(repository, listed => listed.Count == 0, "no node to list it");
        }

        static async Task TryCtrAsync(string socket, string arguments)
        {
            try
            {
                await CtrAsync(socket, arguments);
            }
            catch (InvalidOperationException)
            {
                // A container still running or already gone: the pull may then be shorter, never wrong.
            }
        }
    }

    /// <summary>Polls the nodes' image lists (each poll paces the next) until <paramref name="done"/> holds for the nodes listing <paramref name="repository"/>.</summary>
    private Task WaitNodeListsAsync(string repository, Func<HashSet<string>, bool> done, string what) =>
        Poll.UntilAsync(async () =>
        {
            var nodes = JsonNode.Parse(await Admin.RunAsync("get nodes -o json"))!["items"]!.AsArray();
            return nodes.Where(n => n!["status"]?["images"]?.AsArray().Any(i => i!["names"]!.AsArray().Any(x => ((string?)x)?.Contains(repository, StringComparison.Ordinal) == true)) == true)
                .Select(n => (string)n!["metadata"]!["name"]!).ToHashSet(StringComparer.Ordinal);
        }, done, TimeSpan.FromMinutes(3), listed => $"{what} ({repository}); listed by: {string.Join(", ", listed)}");


    private static string? Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } value ? value : null;

    private static string[] List(string name) =>
        (Env(name) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
