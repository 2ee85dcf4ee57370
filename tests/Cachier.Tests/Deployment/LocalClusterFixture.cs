using System.Text.Json.Nodes;
using Cachier.Domain;

namespace Cachier.Tests.DeploymentChecks;

[CollectionDefinition(Name)]
public sealed class LocalClusterCollection : ICollectionFixture<LocalClusterFixture>
{
    public const string Name = "Deployment: local API server";
}

/// <summary>
/// The cluster of <c>CACHIER_TEST_KUBECONFIG</c> with the RBAC part of both manifests really applied (Namespace,
/// ServiceAccounts, ClusterRoles, ClusterRoleBindings: idempotent, left in place), and the manifests as kubectl reads them.
/// The Knative objects are only ever applied with <c>--dry-run=server</c>: there is no Knative controller here.
/// </summary>
public sealed class LocalClusterFixture : IAsyncLifetime
{
    public const string CachierUser = $"system:serviceaccount:{Manifests.Namespace}:cachier";
    public const string SourceUser = $"system:serviceaccount:{Manifests.Namespace}:cachier-source";
    public const string WarmerUser = $"system:serviceaccount:{Manifests.Namespace}:cachier-warmer";
    public const string WarmerSourceUser = $"system:serviceaccount:{Manifests.Namespace}:cachier-warmer-source";

    private static readonly string[] KnativeCrds =
    [
        "crd/services.serving.knative.dev",
        "crd/apiserversources.sources.knative.dev",
        "crd/pingsources.sources.knative.dev",
        "crd/images.caching.internal.knative.dev",
    ];

    private static readonly HashSet<string> RbacKinds = ["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding"];

    private Lazy<Task<KubectlResult>>? _serverDryRun;

    public Kubectl Kubectl { get; private set; } = null!;

    /// <summary>The objects of knative/service.yaml, knative/apiserversource.yaml and knative/warmer.yaml, client-side (nothing defaulted or pruned).</summary>
    public IReadOnlyList<JsonObject> Objects { get; private set; } = [];

    public IReadOnlyList<ResourceKind> WatchedKinds { get; private set; } = [];

    /// <summary><c>kubectl apply --dry-run=server -f knative/ -o json</c>, run once: the objects as the API server would store them.</summary>
    public Task<KubectlResult> ServerDryRunAsync() => _serverDryRun!.Value;

    public async Task InitializeAsync()
    {
        Kubectl = Kubectl.FromEnvironment();
        var ready = await Kubectl.ExecAsync(["get", "--raw", "/readyz"]);
        if (ready.ExitCode != 0 || ready.Stdout.Trim() != "ok")
        {
            throw new InvalidOperationException(
                $"the API server of {Kubectl.Kubeconfig} is not ready (`scripts/local-cluster.sh status`):\n{ready.Stderr}{ready.Stdout}");
        }

        // local-cluster.sh applies the Knative CRDs last; a dry run of the Knative objects needs them served.
        (await Kubectl.ExecAsync(["wait", "--for=condition=Established", "--timeout=60s", .. KnativeCrds])).EnsureSuccess();

        Objects = (await Kubectl.ExecAsync(["create", "--dry-run=client", "--validate=false", "-o", "json", "-f", Repository.ServiceYaml, "-f", Repository.ApiServerSourceYaml, "-f", Repository.WarmerYaml]))
            .EnsureSuccess().Objects();
        WatchedKinds = Manifests.WatchedKinds(Objects);

        await ApplyRbacAsync();

        // A server dry run of namespaced objects needs their namespace to exist for real: it exists now.
        _serverDryRun = new Lazy<Task<KubectlResult>>(() => Kubectl.ExecAsync(["apply", "--dry-run=server", "-o", "json", "-f", Repository.KnativeDir]));
    }

    public Task DisposeAsync() => Task.CompletedTask;

    /// <summary>Applies only the RBAC objects of both manifests (a filtered List on stdin), then waits until they are in force.</summary>
    private async Task ApplyRbacAsync()
    {
        var items = new JsonArray();
        foreach (var o in Objects
            .Where(o => RbacKinds.Contains((string?)o["kind"] ?? ""))
            .DistinctBy(o => ((string?)o["kind"], (string?)o["metadata"]!["namespace"], (string?)o["metadata"]!["name"])))
        {
            items.Add(o.DeepClone());
        }

        var list = new JsonObject { ["apiVersion"] = "v1", ["kind"] = "List", ["items"] = items };
        (await Kubectl.ExecAsync(["apply", "-f", "-"], stdin: list.ToJsonString())).EnsureSuccess();

        // The RBAC authorizer answers from its informer cache, which trails the write by a moment; nothing to watch
        // for that, so ask until both bindings are in force. The delay only paces the questions; the deadline bounds them.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!(await Kubectl.CanIAsync(CachierUser, "list", "deployments.apps", null)
            && await Kubectl.CanIAsync(SourceUser, "watch", "deployments.apps", null)
            && await Kubectl.CanIAsync(WarmerUser, "list", "nodes", null)
            && await Kubectl.CanIAsync(WarmerSourceUser, "watch", "nodes", null)))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("the applied ClusterRoleBindings did not take effect within 30 s");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(200));
        }
    }
}
