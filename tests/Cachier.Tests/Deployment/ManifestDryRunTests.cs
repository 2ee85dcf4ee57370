using System.Globalization;
using System.Text.Json.Nodes;

namespace Cachier.Tests.DeploymentChecks;

/// <summary>
/// SPEC section 10: knative/ passes <c>kubectl apply --dry-run=server</c> against a real API server with the Knative
/// CRDs, and says what the spec asks for. The assertions read the server's answer, so a field that the CRD schema
/// would prune (misspelt, misplaced) is missing there and fails the test.
/// </summary>
[Collection(LocalClusterCollection.Name)]
public sealed class ManifestDryRunTests(LocalClusterFixture cluster)
{
    [Fact]
    public async Task Knative_manifests_pass_a_server_side_dry_run()
    {
        var result = await cluster.ServerDryRunAsync();

        Assert.True(result.ExitCode == 0, $"`{result.CommandLine}` failed:\n{result.Stderr}");
        var names = result.Objects().Select(o => $"{o["kind"]}/{o["metadata"]!["name"]}").ToHashSet();
        string[] expected =
        [
            "Namespace/cachier-system", "ServiceAccount/cachier", "ClusterRole/cachier", "ClusterRoleBinding/cachier", "ClusterRoleBinding/cachier-issuer-discovery", "Service/cachier",
            "ServiceAccount/cachier-source", "ClusterRole/cachier-source", "ClusterRoleBinding/cachier-source",
            "ApiServerSource/cachier", "PingSource/cachier-resync",
            "ServiceAccount/cachier-warmer", "ClusterRole/cachier-warmer", "ClusterRoleBinding/cachier-warmer", "ClusterRoleBinding/cachier-warmer-issuer-discovery", "Service/cachier-warmer",
            "ServiceAccount/cachier-warmer-source", "ClusterRole/cachier-warmer-source", "ClusterRoleBinding/cachier-warmer-source",
            "ApiServerSource/cachier-warmer", "PingSource/cachier-warmer-resync",
        ];
        Assert.Equal(expected.Order(), names.Order());
    }

    [Fact]
    public async Task Knative_service_is_cluster_local_and_scales_to_zero()
    {
        var service = await ServerObjectAsync("Service", "cachier");

        Assert.Equal("serving.knative.dev/v1", (string?)service["apiVersion"]);
        Assert.Equal(Manifests.Namespace, (string?)service["metadata"]!["namespace"]);
        Assert.Equal("cluster-local", (string?)service["metadata"]!["labels"]?["networking.knative.dev/visibility"]);
        var annotations = service["spec"]!["template"]!["metadata"]!["annotations"]!;
        Assert.Equal("0", (string?)annotations["autoscaling.knative.dev/min-scale"]);
        Assert.True(PositiveInt(annotations["autoscaling.knative.dev/max-scale"]), "max-scale must bound the replicas");
        Assert.True(PositiveInt(annotations["autoscaling.knative.dev/target"]), "a concurrency target must be set");
        Assert.Equal("cachier", (string?)service["spec"]!["template"]!["spec"]!["serviceAccountName"]);
    }

    [Fact]
    public async Task Knative_service_container_is_probed_bounded_and_locked_down()
    {
        var container = Manifests.Container(await ServerObjectAsync("Service", "cachier"));

        Assert.Equal(8080, (int?)container["ports"]!.AsArray().Single()!["containerPort"]);
        Assert.Equal("/health/liveness", (string?)container["livenessProbe"]?["httpGet"]?["path"]);
        Assert.Equal("/health/readiness", (string?)container["readinessProbe"]?["httpGet"]?["path"]);
        foreach (var bound in new[] { "requests", "limits" })
        {
            Assert.NotNull(container["resources"]?[bound]?["cpu"]);
            Assert.NotNull(container["resources"]?[bound]?["memory"]);
        }

        var security = container["securityContext"]!;
        Assert.True((bool?)security["runAsNonRoot"]);
        Assert.True((bool?)security["readOnlyRootFilesystem"]);
        Assert.False((bool?)security["allowPrivilegeEscalation"]);
        Assert.Equal(["ALL"], Manifests.Strings(security["capabilities"]?["drop"]));
        Assert.Null(security["capabilities"]?["add"]);
        Assert.Equal("RuntimeDefault", (string?)security["seccompProfile"]?["type"]);
        // Knative reserves PORT and sets it to the container port itself.
        Assert.DoesNotContain(container["env"]!.AsArray(), e => (string?)e!["name"] == "PORT");
        // The default trust store is the cluster's CA alone: no CA bundle parsed on the first TLS handshake.
        var env = container["env"]!.AsArray().ToDictionary(e => (string)e!["name"]!, e => (string?)e!["value"]);
        Assert.Equal("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt", env["SSL_CERT_FILE"]);
        Assert.False(Directory.Exists(env["SSL_CERT_DIR"]), $"SSL_CERT_DIR {env["SSL_CERT_DIR"]} must name no directory");
    }

    [Fact]
    public async Task Api_server_source_sends_references_to_every_watched_kind_in_all_namespaces()
    {
        var spec = (await ServerObjectAsync("ApiServerSource", "cachier"))["spec"]!.AsObject();

        Assert.Equal("Reference", (string?)spec["mode"]);
        // Present and empty: every namespace (absent would mean only the source's own namespace).
        Assert.Empty(spec["namespaceSelector"]!.AsObject());
        // An owner filter keeps only controlled objects: the opposite of Cachier's rule.
        Assert.False(spec.ContainsKey("owner"), "spec.owner must not be set");
        Assert.Equal("cachier-source", (string?)spec["serviceAccountName"]);
        AssertSinkIsTheService(spec["sink"]!);
        var watched = spec["resources"]!.AsArray().Select(r => ((string?)r!["apiVersion"], (string?)r["kind"])).ToList();
        Assert.Equal(
            cluster.WatchedKinds.Select(k => ((string?)k.ApiVersion, (string?)k.Kind)).Order(),
            watched.Order());
        Assert.DoesNotContain(spec["resources"]!.AsArray(), r => r!["selector"] is not null);
    }

    [Fact]
    public async Task Ping_source_asks_for_a_resync_every_five_minutes()
    {
        var spec = (await ServerObjectAsync("PingSource", "cachier-resync"))["spec"]!;

        Assert.Equal("*/5 * * * *", (string?)spec["schedule"]);
        AssertSinkIsTheService(spec["sink"]!);
        // Cachier answers 415 to a binary-mode request without a Content-Type, which is how an event without data arrives.
        Assert.Equal("application/json", (string?)spec["contentType"]);
        Assert.False(string.IsNullOrEmpty((string?)spec["data"]), "the ping needs a body so that it carries a Content-Type");
    }

    [Fact]
    public async Task Warmer_runs_the_same_image_in_the_warmer_role_locked_down_like_cachier()
    {
        var warmer = await ServerObjectAsync("Service", "cachier-warmer");
        var container = Manifests.Container(warmer);

        Assert.Equal((string?)Manifests.Container(await ServerObjectAsync("Service", "cachier"))["image"], (string?)container["image"]);
        var env = container["env"]!.AsArray().ToDictionary(e => (string)e!["name"]!, e => (string?)e!["value"]);
        Assert.Equal("warmer", env["Cachier__Role"]);
        Assert.False(string.IsNullOrEmpty(env["Cachier__Warmer__HelperImage"]));
        Assert.Equal("cachier-warmer", (string?)warmer["spec"]!["template"]!["spec"]!["serviceAccountName"]);
        Assert.Equal("0", (string?)warmer["spec"]!["template"]!["metadata"]!["annotations"]!["autoscaling.knative.dev/min-scale"]);
        var security = container["securityContext"]!;
        Assert.True((bool?)security["runAsNonRoot"]);
        Assert.True((bool?)security["readOnlyRootFilesystem"]);
        Assert.Equal(["ALL"], Manifests.Strings(security["capabilities"]?["drop"]));
    }

    [Fact]
    public async Task Warmer_source_sends_images_nodes_and_only_its_own_pull_pods()
    {
        var spec = (await ServerObjectAsync("ApiServerSource", "cachier-warmer"))["spec"]!.AsObject();

        Assert.Equal("Reference", (string?)spec["mode"]);
        Assert.Empty(spec["namespaceSelector"]!.AsObject());
        Assert.Equal("cachier-warmer-source", (string?)spec["serviceAccountName"]);
        var resources = spec["resources"]!.AsArray().ToDictionary(r => (string)r!["kind"]!, r => r!);
        Assert.Equal(["Image", "Node", "Pod"], resources.Keys.Order());
        Assert.Equal("caching.internal.knative.dev/v1alpha1", (string?)resources["Image"]["apiVersion"]);
        Assert.Equal("cachier-warmer", (string?)resources["Pod"]["selector"]?["matchLabels"]?["app.kubernetes.io/managed-by"]);
        Assert.Null(resources["Image"]["selector"]);
        Assert.Equal("cachier-warmer", (string?)spec["sink"]!["ref"]!["name"]);
        var ping = (await ServerObjectAsync("PingSource", "cachier-warmer-resync"))["spec"]!;
        Assert.Equal("cachier-warmer", (string?)ping["sink"]!["ref"]!["name"]);
        Assert.Equal("application/json", (string?)ping["contentType"]);
    }

    private static void AssertSinkIsTheService(JsonNode sink)
    {
        var target = sink["ref"]!;
        Assert.Equal("serving.knative.dev/v1", (string?)target["apiVersion"]);
        Assert.Equal("Service", (string?)target["kind"]);
        Assert.Equal("cachier", (string?)target["name"]);
        Assert.Equal(Manifests.Namespace, (string?)target["namespace"]);
        // POST / : Cachier tells the event types apart (a ping is a resync); a path would be lost behind a Broker.
        Assert.Null(sink["uri"]);
    }

    private async Task<JsonObject> ServerObjectAsync(string kind, string name)
    {
        var result = (await cluster.ServerDryRunAsync()).EnsureSuccess();
        return Manifests.Find(result.Objects(), kind, name);
    }

    private static bool PositiveInt(JsonNode? value) =>
        int.TryParse((string?)value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0;
}
