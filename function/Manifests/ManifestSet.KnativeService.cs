namespace Cachier.Manifests;

/// <summary>The Knative Service both roles run as.</summary>
public static partial class ManifestSet
{
    /// <summary>
    /// A Knative Service running the one image; the function's and the warmer's differ in name, scale, timeout and env.
    /// The pod template's shape is also what the node tests run as a plain Deployment.
    /// </summary>
    private static YamlMap KnativeService(ManifestOptions o, string name, string serviceAccount, YamlMap annotations,
        (long Seconds, string Why) timeout, YamlSeq env, string memoryComment)
    {
        var container = new YamlMap
        {
            { "name", Name },
            {
                "image", o.Image,
                o.Image == ManifestOptions.DefaultImage
                    ? "Placeholder: generate with --image=<your registry>/cachier@sha256:<digest> (README, \"Deploy on Knative\").\nKnative resolves a tag to a digest per Revision; a digest pins it here."
                    : "The image, by digest (Knative resolves a tag to a digest per Revision anyway)."
            },
            {
                "ports", new YamlSeq { new YamlMap { { "name", "http1" }, { "containerPort", 8080 } } },
                "Knative sets $PORT to this port; Cachier listens on $PORT (PORT itself is reserved by Knative)."
            },
            { "env", env },
            {
                "readinessProbe", new YamlMap { { "httpGet", new YamlMap { { "path", "/health/readiness" } } } },
                "No periodSeconds: Knative's queue-proxy then probes aggressively at start (fast cold start)."
            },
            {
                "livenessProbe", new YamlMap
                {
                    { "httpGet", new YamlMap { { "path", "/health/liveness" } } },
                    { "periodSeconds", 10 },
                    { "timeoutSeconds", 2 },
                    { "failureThreshold", 3 },
                }
            },
            {
                "resources", new YamlMap
                {
                    { "requests", new YamlMap { { "cpu", "50m" }, { "memory", "64Mi", "Idle RSS of the Native AOT binary is ~33 MiB (bench/RESULTS.md, section 4)." } } },
                    { "limits", new YamlMap { { "memory", "256Mi", memoryComment }, { "cpu", "1" } } },
                }
            },
            {
                "securityContext", new YamlMap
                {
                    { "runAsNonRoot", true, "The image runs as a numeric non-root user; the binary writes nothing to disk." },
                    { "readOnlyRootFilesystem", true },
                    { "allowPrivilegeEscalation", false },
                    { "capabilities", new YamlMap { { "drop", new YamlSeq(["ALL"]) } } },
                    { "seccompProfile", new YamlMap { { "type", "RuntimeDefault" } } },
                }
            },
        };

        var spec = new YamlMap
        {
            { "serviceAccountName", serviceAccount },
            { "containerConcurrency", 0, "No hard limit on concurrent requests per replica (the autoscaler works on the target above)." },
            { "timeoutSeconds", timeout.Seconds, timeout.Why },
            { "enableServiceLinks", false },
            { "containers", new YamlSeq { container } },
        };

        var serviceLabels = new YamlMap
        {
            {
                "networking.knative.dev/visibility", "cluster-local",
                "No public route: only senders inside the cluster (the sources' adapters) reach\nhttp://" + name + "." + o.Namespace + ".svc.cluster.local."
            },
        };
        return new YamlMap
        {
            { "apiVersion", "serving.knative.dev/v1" },
            { "kind", "Service" },
            { "metadata", Metadata(name, o.Namespace, name, serviceLabels) },
            {
                "spec", new YamlMap
                {
                    {
                        "template", new YamlMap
                        {
                            {
                                "metadata", new YamlMap
                                {
                                    { "labels", new YamlMap { { "app.kubernetes.io/name", name } } },
                                    { "annotations", annotations },
                                }
                            },
                            { "spec", spec },
                        }
                    },
                }
            },
        };
    }
}
