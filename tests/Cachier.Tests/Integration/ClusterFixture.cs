namespace Cachier.Tests.Integration;

[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "cluster";
}

/// <summary>
/// The real local kube-apiserver (scripts/local-cluster.sh). The function under test runs with a token of the
/// ServiceAccount and ClusterRole of knative/service.yaml, not as admin, so every test also proves the RBAC.
/// </summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    public const string Resources =
        "Deployment.v1.apps,ReplicaSet.v1.apps,StatefulSet.v1.apps,DaemonSet.v1.apps,Job.v1.batch,CronJob.v1beta1.batch,Foo.v1.example.cachier.dev";

    private readonly string _dir = Directory.CreateTempSubdirectory("cachier-it-").FullName;

    public const string CachierUser = "system:serviceaccount:cachier-system:cachier";

    public Kubectl Admin { get; } = new(Environment.GetEnvironmentVariable("CACHIER_TEST_KUBECONFIG") is { Length: > 0 } path
        ? path
        : throw new InvalidOperationException(
            "CACHIER_TEST_KUBECONFIG is not set: the integration tests need the local API server. Run scripts/test.sh, or scripts/local-cluster.sh up and export CACHIER_TEST_KUBECONFIG."));

    /// <summary>A kubeconfig carrying the cachier ServiceAccount's token.</summary>
    public string CachierKubeconfig { get; private set; } = "";

    /// <summary>The API server's address, from the admin kubeconfig.</summary>
    public string Server { get; private set; } = "";

    /// <summary>The cluster CA (base64 PEM), from the admin kubeconfig.</summary>
    public string CaData { get; private set; } = "";

    public async Task InitializeAsync()
    {
        await Admin.RunAsync(["apply", "-f", Repository.ServiceYaml]);
        // The custom PodSpecable kind of the tests, and (test-only) read access to it for the function.
        await Admin.ApplyAsync(FooCrd);
        await Admin.RunAsync("wait --for condition=established --timeout=60s crd/foos.example.cachier.dev");
        foreach (var (verb, resource) in new[] { ("get", "deployments.apps"), ("create", "images.caching.internal.knative.dev"), ("list", "foos.example.cachier.dev"), ("update", "foos.example.cachier.dev/finalizers") })
        {
            await Admin.WaitUntilAllowedAsync(CachierUser, verb, resource);
        }

        var token = (await Admin.RunAsync("create token cachier -n cachier-system --duration=2h")).Trim();
        Server = Kubeconfig.AdminValue(Admin.Kubeconfig, "server");
        CaData = Kubeconfig.AdminValue(Admin.Kubeconfig, "certificate-authority-data");
        CachierKubeconfig = WriteKubeconfig($"{{token: {token}}}");
    }

    /// <summary>
    /// A new kubeconfig for this cluster with the given user entry (YAML flow mapping, such as <c>{token: ...}</c>),
    /// trusting <paramref name="caData"/> (base64 PEM; default: the cluster CA).
    /// </summary>
    public string WriteKubeconfig(string user, string? caData = null) =>
        Kubeconfig.Write(Server, caData ?? CaData, user, Path.Combine(_dir, $"kubeconfig-{Guid.NewGuid():N}"));

    public Task DisposeAsync()
    {
        Directory.Delete(_dir, recursive: true);
        return Task.CompletedTask;
    }

    /// <summary>A fresh namespace per test.</summary>
    public async Task<string> NamespaceAsync()
    {
        var ns = $"it-{Guid.NewGuid():N}"[..14];
        await Admin.RunAsync($"create namespace {ns}");
        return ns;
    }

    /// <summary>
    /// The real app, in-process, against the real API server with the cachier ServiceAccount's token; its Kubernetes
    /// Events are sent. <paramref name="settings"/>: extra <c>Cachier:*</c> settings (keys without the section prefix).
    /// Real tokens are SenderAuthenticationIntegrationTests' subject, which turns authentication on again.
    /// </summary>
    public AppHost App(params (string Key, string Value)[] settings) => App(new AppOptions { Settings = settings });

    /// <summary>The real app against the real API server, as <paramref name="options"/> say (the connection is the fixture's).</summary>
    public AppHost App(AppOptions options) =>
        AppHost.Start(options with { Kubeconfig = CachierKubeconfig, Events = KubeEvents.Sent, Settings = [("Resources", Resources), .. options.Settings] });

    private const string FooCrd = """
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata: {name: foos.example.cachier.dev}
        spec:
          group: example.cachier.dev
          scope: Namespaced
          names: {plural: foos, singular: foo, kind: Foo}
          versions:
          - name: v1
            served: true
            storage: true
            schema:
              openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: ClusterRole
        metadata: {name: cachier-test-foos}
        rules:
        - apiGroups: [example.cachier.dev]
          resources: [foos]
          verbs: [get, list]
        # What `cachier manifests --resource=...Foo.v1.example.cachier.dev` grants too: blockOwnerDeletion on an Image
        # owned by a Foo needs it where OwnerReferencesPermissionEnforcement is on (local-cluster.sh turns it on).
        - apiGroups: [example.cachier.dev]
          resources: [foos/finalizers]
          verbs: [update]
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: ClusterRoleBinding
        metadata: {name: cachier-test-foos}
        roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cachier-test-foos}
        subjects:
        - {kind: ServiceAccount, name: cachier, namespace: cachier-system}
        """;
}
