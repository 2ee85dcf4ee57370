using System.Globalization;
using System.Text.Json.Nodes;

namespace Cachier.Bench.Resync;

/// <summary>What the bench does to the local API server as admin: the function's identity, the fleet, the drift, the cleanup.</summary>
public sealed class BenchCluster(Kubectl admin)
{
    public const string NamespacePrefix = "bench-resync-";
    public const string Label = "cachier-bench=resync";
    public const string ImageResource = "images.caching.internal.knative.dev";

    /// <summary>The kinds the function watches on a 1.20 API server (CronJob is served only as batch/v1beta1 there).</summary>
    public const string Resources = "Deployment.v1.apps,ReplicaSet.v1.apps,StatefulSet.v1.apps,DaemonSet.v1.apps,Job.v1.batch,CronJob.v1beta1.batch";

    private const string IdentityNamespace = "cachier-bench";
    private const string IdentityName = "cachier-bench-resync";

    /// <summary>The user the audit log names for the function.</summary>
    public static string Identity => $"system:serviceaccount:{IdentityNamespace}:{IdentityName}";

    /// <summary>
    /// A ServiceAccount of its own, with the least privilege of knative/service.yaml (get and list on the watched kinds,
    /// Images read and written): its calls are told apart in the audit log from every other client's, tests' included.
    /// Returns a kubeconfig carrying its token.
    /// </summary>
    public async Task<string> CreateIdentityAsync(string directory)
    {
        var rbac = new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "List",
            ["items"] = new JsonArray(
                new JsonObject { ["apiVersion"] = "v1", ["kind"] = "Namespace", ["metadata"] = new JsonObject { ["name"] = IdentityNamespace } },
                new JsonObject
                {
                    ["apiVersion"] = "v1",
                    ["kind"] = "ServiceAccount",
                    ["metadata"] = new JsonObject { ["name"] = IdentityName, ["namespace"] = IdentityNamespace },
                },
                new JsonObject
                {
                    ["apiVersion"] = "rbac.authorization.k8s.io/v1",
                    ["kind"] = "ClusterRole",
                    ["metadata"] = new JsonObject { ["name"] = IdentityName },
                    ["rules"] = new JsonArray(
                        Rule("apps", ["deployments", "replicasets", "statefulsets", "daemonsets"], ["get", "list"]),
                        Rule("batch", ["jobs", "cronjobs"], ["get", "list"]),
                        // blockOwnerDeletion on an Image's owner reference, where OwnerReferencesPermissionEnforcement is on
                        // (local-cluster.sh turns it on), as knative/service.yaml grants it.
                        Rule("apps", ["deployments/finalizers", "replicasets/finalizers", "statefulsets/finalizers", "daemonsets/finalizers"], ["update"]),
                        Rule("batch", ["jobs/finalizers", "cronjobs/finalizers"], ["update"]),
                        Rule("caching.internal.knative.dev", ["images"], ["get", "list", "create", "update", "patch", "delete", "deletecollection"])),
                },
                new JsonObject
                {
                    ["apiVersion"] = "rbac.authorization.k8s.io/v1",
                    ["kind"] = "ClusterRoleBinding",
                    ["metadata"] = new JsonObject { ["name"] = IdentityName },
                    ["roleRef"] = new JsonObject { ["apiGroup"] = "rbac.authorization.k8s.io", ["kind"] = "ClusterRole", ["name"] = IdentityName },
                    ["subjects"] = new JsonArray(new JsonObject { ["kind"] = "ServiceAccount", ["name"] = IdentityName, ["namespace"] = IdentityNamespace }),
                }),
        };
        await admin.RunAsync(["apply", "-f", "-"], rbac.ToJsonString());
        var token = (await admin.RunAsync(["create", "token", IdentityName, "-n", IdentityNamespace, "--duration=2h"])).Trim();
        var server = Kubeconfig.AdminValue(admin.Kubeconfig, "server");
        var ca = Kubeconfig.AdminValue(admin.Kubeconfig, "certificate-authority-data");
        return Kubeconfig.Write(server, ca, $"{{token: {token}}}", Path.Combine(directory, "function.kubeconfig"));
    }

    public Task DeleteIdentityAsync() =>
        admin.TryRunAsync(["delete", $"clusterrolebinding/{IdentityName}", $"clusterrole/{IdentityName}", $"namespace/{IdentityNamespace}", "--wait=false"]);

    /// <summary>
    /// Waits (bounded) for the API server to answer /readyz: tests sharing the local cluster may stop and start it
    /// (scripts/local-cluster.sh stop-apiserver) while the bench waits.
    /// </summary>
    public async Task WaitForApiServerAsync(TimeSpan bound)
    {
        var deadline = DateTime.UtcNow + bound;
        while ((await admin.TryRunAsync(["get", "--raw", "/readyz"])).Code != 0)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"the API server did not answer /readyz within {bound.TotalMinutes:0} minutes");
            }

            await Task.Delay(TimeSpan.FromSeconds(2));
        }
    }

    /// <summary>Namespaces of an earlier run that did not finish: gone before this one starts.</summary>
    public async Task RemoveLeftoversAsync()
    {
        var left = (await admin.RunAsync(["get", "namespaces", "-l", Label, "-o", "name"])).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (left.Length > 0)
        {
            Console.Error.WriteLine($"removing {left.Length} namespaces left by an earlier run");
            await RemoveAsync(left.Select(n => n["namespace/".Length..]).ToArray());
        }
    }

    /// <summary>
    /// Creates the namespaces and, per namespace, one <c>kubectl create</c> of a List of the uncontrolled workloads, then one
    /// of the controlled ReplicaSets (they need their owners' uids). Returns the fleet.
    /// </summary>
    public async Task<List<FleetMember>> CreateFleetAsync(int namespaces, int perNamespace)
    {
        var names = Enumerable.Range(0, namespaces).Select(n => $"{NamespacePrefix}{n:D2}").ToArray();
        await admin.RunAsync(["apply", "-f", "-"], List(names.Select(ns => new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Namespace",
            ["metadata"] = new JsonObject { ["name"] = ns, ["labels"] = new JsonObject { ["cachier-bench"] = "resync" } },
        })));
        var fleet = names.SelectMany((ns, n) => Enumerable.Range(0, perNamespace).Select(k => Fleet.Recipe(ns, n, k))).ToList();
        await Parallel.ForEachAsync(names, new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (ns, _) =>
        {
            var members = fleet.Where(m => m.Namespace == ns).ToList();
            var created = await admin.RunAsync(["create", "-f", "-", "-o", """jsonpath={.kind} {.metadata.name} {.metadata.uid}{"\n"}"""],
                List(members.Where(m => m.ControlledBy is null).Select(m => m.Manifest())));
            var uids = created.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' '))
                .Where(f => f[0] == "Deployment").ToDictionary(f => f[1], f => f[2]);
            await admin.RunAsync(["create", "-f", "-", "-o", "name"],
                List(members.Where(m => m.ControlledBy is not null).Select(m => m.Manifest(uids[m.ControlledBy!]))));
        });
        return fleet;
    }

    /// <summary>namespace/name of every Image in the bench's namespaces.</summary>
    public async Task<List<string>> ImagesAsync()
    {
        var all = await admin.RunAsync(["get", ImageResource, "--all-namespaces", "-o", """jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name}{"\n"}{end}"""]);
        return all.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(i => i.StartsWith(NamespacePrefix, StringComparison.Ordinal)).ToList();
    }

    /// <summary>Deletes every <paramref name="every"/>th Image (in name order) by hand, one kubectl per namespace; returns how many.</summary>
    public async Task<int> DeleteImagesAsync(IReadOnlyList<string> images, int every)
    {
        var doomed = images.Order(StringComparer.Ordinal).Where((_, i) => i % every == 0).Select(i => i.Split('/')).ToList();
        await Parallel.ForEachAsync(doomed.GroupBy(d => d[0]), new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (ns, _) =>
            await admin.RunAsync(["delete", ImageResource, "-n", ns.Key, .. ns.Select(d => d[1])]));
        return doomed.Count;
    }

    public async Task DeleteAllImagesAsync()
    {
        var namespaces = (await admin.RunAsync(["get", "namespaces", "-l", Label, "-o", "jsonpath={.items[*].metadata.name}"])).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        await Parallel.ForEachAsync(namespaces, new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (ns, _) =>
            await admin.RunAsync(["delete", "--raw", $"/apis/caching.internal.knative.dev/v1alpha1/namespaces/{ns}/images"]));
    }

    /// <summary>Every namespace that is not the bench's: excluded from the function's reconciles, so its writes are the bench's alone.</summary>
    public async Task<string[]> OtherNamespacesAsync() =>
        (await admin.RunAsync(["get", "namespaces", "-o", "jsonpath={.items[*].metadata.name}"]))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries).Where(ns => !ns.StartsWith(NamespacePrefix, StringComparison.Ordinal)).ToArray();

    public async Task<int> CountAsync(string resource) =>
        (await admin.RunAsync(["get", resource, "--all-namespaces", "-o", "jsonpath={.items[*].metadata.namespace}"]))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries).Count(ns => ns.StartsWith(NamespacePrefix, StringComparison.Ordinal));

    /// <summary>
    /// One DELETE of each collection per namespace (the namespace controller, rate-limited, would take many minutes
    /// over 10,000 workloads and their Images), then the namespaces, waited for.
    /// </summary>
    public async Task RemoveAsync(string[] namespaces)
    {
        string[] collections =
        [
            "apis/apps/v1/namespaces/{0}/deployments", "apis/apps/v1/namespaces/{0}/replicasets", "apis/apps/v1/namespaces/{0}/statefulsets",
            "apis/apps/v1/namespaces/{0}/daemonsets", "apis/apps/v1/namespaces/{0}/controllerrevisions", "apis/batch/v1/namespaces/{0}/jobs",
            "apis/batch/v1beta1/namespaces/{0}/cronjobs", "apis/caching.internal.knative.dev/v1alpha1/namespaces/{0}/images",
        ];
        await WaitForApiServerAsync(TimeSpan.FromMinutes(5));
        var calls = namespaces.SelectMany(ns => collections.Select(c => string.Format(CultureInfo.InvariantCulture, c, ns)));
        await Parallel.ForEachAsync(calls, new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (path, _) =>
            await admin.TryRunAsync(["delete", "--raw", "/" + path]));
        await admin.TryRunAsync(["delete", "namespace", .. namespaces, "--wait=false"]);
        await admin.TryRunAsync(["wait", "--for=delete", "--timeout=600s", .. namespaces.Select(ns => $"namespace/{ns}")]);
    }

    private static JsonObject Rule(string group, string[] resources, string[] verbs) => new()
    {
        ["apiGroups"] = new JsonArray(group),
        ["resources"] = new JsonArray([.. resources.Select(r => (JsonNode)r)]),
        ["verbs"] = new JsonArray([.. verbs.Select(v => (JsonNode)v)]),
    };

    private static string List(IEnumerable<JsonObject> items) =>
        new JsonObject { ["apiVersion"] = "v1", ["kind"] = "List", ["items"] = new JsonArray([.. items]) }.ToJsonString();
}
