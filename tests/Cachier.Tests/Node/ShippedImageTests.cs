using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Cachier.Tests.Integration;
using Cachier.Tests.Source;
using Cachier.Tests.Support;

namespace Cachier.Tests.Node;

/// <summary>
/// The image as shipped, built without Docker (scripts/image.sh) and run on the real node: it says what the
/// Dockerfile says, and it runs the pod template of knative/service.yaml (as a plain Deployment: no Knative here)
/// with its ServiceAccount, connected in-cluster, and turns the ApiServerSource stand-in's events into Images.
/// </summary>
[Collection(NodeCollection.Name)]
[Trait("Tier", "Node")]
public sealed class ShippedImageTests(NodeLab lab, ShippedImage image) : IClassFixture<ShippedImage>
{
    private const string SystemNamespace = "cachier-system";

    /// <summary>
    /// What the Dockerfile's base (mcr.microsoft.com/dotnet/runtime-deps:10.0-noble-chiseled) sets, which its
    /// image inherits: the base's own Dockerfile (dotnet/dotnet-docker), and the PATH Docker gives every image.
    /// </summary>
    private static readonly Dictionary<string, string> BaseEnvironment = new()
    {
        ["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ["APP_UID"] = "1654",
        ["ASPNETCORE_HTTP_PORTS"] = "8080",
        ["DOTNET_RUNNING_IN_CONTAINER"] = "true",
        ["DOTNET_SYSTEM_GLOBALIZATION_INVARIANT"] = "true",
    };

    [NodeFact]
    public async Task The_built_image_has_the_dockerfiles_user_entry_point_environment_ports_and_labels()
    {
        var docker = DockerfileRuntimeStage.Read(Path.Combine(Repository.Root, "Dockerfile"));
        var config = await image.ConfigAsync();
        var container = config["config"]!;
        var labels = container["Labels"]!.AsObject().ToDictionary(p => p.Key, p => (string)p.Value!);
        var (_, revision, _) = await ShippedImage.RunAsync("git", "rev-parse HEAD", TimeSpan.FromSeconds(30));
        // Build arguments: the script passes the version of the Dockerfile, the commit, its time and the https remote.
        var args = new Dictionary<string, string>(docker.Args)
        {
            ["REVISION"] = revision.Trim(),
            ["CREATED"] = (string)config["created"]!,
            ["SOURCE"] = labels.GetValueOrDefault("org.opencontainers.image.source", ""),
        };
        var environment = new Dictionary<string, string>(BaseEnvironment);
        foreach (var (name, value) in docker.Env)
        {
            environment[name] = DockerfileRuntimeStage.Expand(value, environment);
        }

        Assert.Equal(DockerfileRuntimeStage.Expand(docker.User, environment), (string)container["User"]!);
        Assert.Equal(docker.Entrypoint, container["Entrypoint"]!.AsArray().Select(e => (string)e!));
        Assert.Null(container["Cmd"]);
        Assert.Equal(docker.WorkDir, (string?)container["WorkingDir"]);
        Assert.Equal(docker.Expose.Select(p => $"{p}/tcp").Order(), container["ExposedPorts"]!.AsObject().Select(p => p.Key).Order());
        Assert.Equal(environment.OrderBy(e => e.Key), container["Env"]!.AsArray().Select(e => Split((string)e!)).OrderBy(e => e.Key));
        Assert.Equal(docker.Labels.ToDictionary(l => l.Key, l => DockerfileRuntimeStage.Expand(l.Value, args)).OrderBy(l => l.Key), labels.OrderBy(l => l.Key));
        Assert.Matches("^(https://.+)?$", args["SOURCE"]);
        Assert.Contains("org.opencontainers.image.revision", labels.Keys);
        Assert.Equal(("amd64", "linux"), ((string)config["architecture"]!, (string)config["os"]!));
    }

    [NodeFact]
    public async Task The_pushed_image_is_the_built_layout_and_ships_the_published_binary_root_owned()
    {
        var (manifest, layers) = ShippedImage.LayoutManifest();

        Assert.EndsWith("@" + manifest, image.Reference, StringComparison.Ordinal);
        var app = await ShippedImage.LayerFilesAsync(layers[^1]);
        Assert.Equal(["app/appsettings.json", "app/cachier"], app.Keys.Order());
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(Repository.PublishedBinary))), app["app/cachier"].Sha256);
        Assert.All(app.Values, f => Assert.Equal(0, f.Uid));
        Assert.True(app["app/cachier"].Mode.HasFlag(UnixFileMode.OtherExecute), "the app user must be able to run the binary");
        Assert.False(app["app/cachier"].Mode.HasFlag(UnixFileMode.OtherWrite));
        // The base: libraries and certificates, no shell.
        var baseFiles = await ShippedImage.LayerFilesAsync(layers[0]);
        Assert.Contains("etc/ssl/certs/ca-certificates.crt", baseFiles.Keys);
        Assert.Contains(baseFiles.Keys, f => f.EndsWith("/libssl.so.3", StringComparison.Ordinal));
        Assert.DoesNotContain(baseFiles.Keys, f => f.EndsWith("bin/sh", StringComparison.Ordinal) || f.EndsWith("bin/dash", StringComparison.Ordinal));
    }

    /// <summary>
    /// The Deployment runs on the host's network (hostNetwork): the lab's pod network is a bridge without a host
    /// address, so neither the stand-in nor the kubelet's probes could reach a pod address from here. It listens on a
    /// free loopback port (as Knative sets $PORT, and ASPNETCORE_URLS keeps it off the other interfaces), and it reaches
    /// the API server in-cluster through KUBERNETES_SERVICE_HOST/PORT pointed at the local API server: this cluster has
    /// no kube-proxy and no endpoints for the kubernetes Service, so its ClusterIP (what the kubelet sets) leads nowhere.
    /// The token and CA are the kubelet's mount of the ServiceAccount's.
    /// </summary>
    [NodeFact]
    public async Task The_image_runs_the_knative_pod_template_on_the_node_and_turns_the_stand_ins_events_into_Images()
    {
        var ns = await lab.NamespaceAsync();
        await using var served = await ServeAsync("service.yaml", "cachier");
        await using var source = await served.SourceAsync("--namespace", ns, "--resource", "Deployment.v1.apps");

        await lab.Admin.ApplyAsync(Workloads.Deployment(ns, "web", [$"{lab.Registry}/lab/busybox:1", "nginx:1.25"], replicas: 0));
        var uid = (string)(await lab.Admin.GetAsync("deployment/web", ns))["metadata"]!["uid"]!;
        await ImagesBecomeAsync(source, ns, uid, $"{lab.Registry}/lab/busybox:1", "nginx:1.25");
        await lab.Admin.ApplyAsync(Workloads.Deployment(ns, "web", [$"{lab.Registry}/lab/busybox:1", "nginx:1.27"], replicas: 0));
        await ImagesBecomeAsync(source, ns, uid, $"{lab.Registry}/lab/busybox:1", "nginx:1.27");

        AssertAllDeliveredWith200(source);
        await lab.Admin.RunAsync($"delete namespace {ns} --wait=false");
    }

    /// <summary>
    /// knative/warmer.yaml's template the same way, with two settings of this lab: the helper image from the local
    /// registry (the template's is on a registry these machines cannot reach), and an Image selector (the template's
    /// optional one) so that it warms this test's Image only.
    /// </summary>
    [NodeFact]
    public async Task The_image_runs_the_warmers_pod_template_on_the_node_and_an_Image_becomes_Ready_on_it()
    {
        var ns = await lab.NamespaceAsync();
        var warmed = $"{lab.SlowRegistry}/lab/busybox:1";
        await lab.RemoveImageAsync(warmed);
        await using var served = await ServeAsync("warmer.yaml", "cachier-warmer",
            ("Cachier__Warmer__HelperImage", $"{lab.Registry}/lab/busybox:1"), ("Cachier__Warmer__ImageSelector", $"cachier-test={ns}"));
        await using var source = await served.SourceAsync(
            "--resource", $"caching.internal.knative.dev/v1alpha1/images?cachier-test={ns}", "--resource", "v1/nodes",
            "--resource", "v1/pods?app.kubernetes.io/managed-by=cachier-warmer", "--ping-every", "5s", "--ping-now");

        await lab.Admin.ApplyAsync(new JsonObject
        {
            ["apiVersion"] = "caching.internal.knative.dev/v1alpha1",
            ["kind"] = "Image",
            ["metadata"] = new JsonObject { ["name"] = "warmed", ["namespace"] = ns, ["labels"] = new JsonObject { ["cachier-test"] = ns } },
            ["spec"] = new JsonObject { ["image"] = warmed },
        }.ToJsonString());

        await Poll.TrueAsync(async () => ReadyStatus(await lab.Admin.GetAsync("images.caching.internal.knative.dev/warmed", ns)) == ("True", "Pulled"), TimeSpan.FromSeconds(180),
            async () => $"Image {ns}/warmed: {(await lab.Admin.GetAsync("images.caching.internal.knative.dev/warmed", ns))["status"]}; warmer log:\n{await served.LogsAsync()}");
        foreach (var socket in lab.ContainerdSockets)
        {
            Assert.Contains(warmed, await NodeLab.CtrAsync(socket, "images ls -q"));
        }

        await Poll.TrueAsync(async () => (await lab.Admin.GetAsync("pods -l app.kubernetes.io/managed-by=cachier-warmer", ns))["items"]!.AsArray().Count == 0, TimeSpan.FromSeconds(90),
            $"no pull pod left in {ns}");
        AssertAllDeliveredWith200(source);
        await lab.Admin.RunAsync($"delete namespace {ns} --wait=false");
    }

    private static (string?, string?) ReadyStatus(JsonObject image)
    {
        var ready = image["status"]?["conditions"]?.AsArray().FirstOrDefault(c => (string?)c!["type"] == "Ready");
        return ((string?)ready?["status"], (string?)ready?["reason"]);
    }

    private static void AssertAllDeliveredWith200(StandIn source) =>
        Assert.All(source.Log.Lines.Where(l => l.Contains(" delivered ", StringComparison.Ordinal) || l.Contains(" dropped ", StringComparison.Ordinal)),
            l => Assert.Contains(" -> 200 ", l, StringComparison.Ordinal));

    /// <summary>
    /// Applies knative/<paramref name="file"/>, runs the template of its Knative Service <paramref name="service"/> (as the
    /// API server stored it) as a Deployment of the shipped image, waits for it to roll out, and checks the running
    /// process is the non-root user on a read-only root.
    /// </summary>
    private async Task<Served> ServeAsync(string file, string service, params (string Name, string Value)[] settings)
    {
        await lab.Admin.RunAsync(["apply", "-f", Path.Combine(Repository.KnativeDir, file)]);
        var template = (await lab.Admin.GetAsync($"services.serving.knative.dev/{service}", SystemNamespace))["spec"]!["template"]!.AsObject();
        var port = Ports.Free();
        var api = new Uri(Kubeconfig.AdminValue(lab.Admin.Kubeconfig, "server"));
        var served = new Served(lab, service, port, Env(template));
        try
        {
            await lab.Admin.ApplyAsync(PlainDeployment(service, template, image.Reference, port, api, settings).ToJsonString());
            await RolloutAsync(service);
            var pod = await RunningPodAsync(service);
            var status = pod["status"]!["containerStatuses"]!.AsArray().Single()!;
            Assert.True((bool)status["ready"]!);
            Assert.Equal(0, (int)status["restartCount"]!);
            Assert.EndsWith(image.Reference[image.Reference.IndexOf('@', StringComparison.Ordinal)..], (string)status["imageID"]!);
            await AssertNonRootAndReadOnlyAsync(pod);
            return served;
        }
        catch
        {
            await served.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// The Knative Service's revision template as a Deployment, changed only where Knative would fill in or where this
    /// lab differs (see above): the image by digest, $PORT and the probes' port, the network, the API address, settings.
    /// </summary>
    private static JsonObject PlainDeployment(string name, JsonObject template, string reference, int port, Uri api, (string Name, string Value)[] settings)
    {
        var meta = template["metadata"]!.DeepClone().AsObject();
        var spec = template["spec"]!.DeepClone().AsObject();
        spec.Remove("containerConcurrency");
        spec.Remove("timeoutSeconds");
        spec["hostNetwork"] = true;
        var container = spec["containers"]!.AsArray().Single()!.AsObject();
        container["image"] = reference;
        container["ports"]![0]!["containerPort"] = port;
        foreach (var probe in new[] { "readinessProbe", "livenessProbe" })
        {
            container[probe]!["httpGet"]!["port"] = port;
        }

        var env = container["env"]!.AsArray();
        var invariant = System.Globalization.CultureInfo.InvariantCulture;
        (string, string)[] lab =
        [
            ("PORT", port.ToString(invariant)), ("ASPNETCORE_URLS", $"http://127.0.0.1:{port}"),
            ("KUBERNETES_SERVICE_HOST", api.Host), ("KUBERNETES_SERVICE_PORT", api.Port.ToString(invariant)),
        ];
        foreach (var (key, value) in lab.Concat(settings))
        {
            env.Remove(env.FirstOrDefault(e => (string?)e!["name"] == key));
            env.Add(new JsonObject { ["name"] = key, ["value"] = value });
        }

        return new JsonObject
        {
            ["apiVersion"] = "apps/v1",
            ["kind"] = "Deployment",
            ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = SystemNamespace },
            ["spec"] = new JsonObject
            {
                ["replicas"] = 1,
                ["selector"] = new JsonObject { ["matchLabels"] = meta["labels"]!.DeepClone() },
                ["template"] = new JsonObject { ["metadata"] = meta, ["spec"] = spec },
            },
        };
    }

    private static Dictionary<string, string> Env(JsonObject template) =>
        template["spec"]!["containers"]![0]!["env"]!.AsArray().Where(e => e!["value"] is not null)
            .ToDictionary(e => (string)e!["name"]!, e => (string)e!["value"]!);

    private async Task RolloutAsync(string name)
    {
        var (code, _, stderr) = await lab.Admin.TryRunAsync($"rollout status deployment/{name} -n {SystemNamespace} --timeout=180s");
        if (code != 0)
        {
            var pods = await lab.Admin.RunAsync($"get pods -n {SystemNamespace} -l app.kubernetes.io/name={name} -o jsonpath={{.items[*].status}}", check: false);
            var logs = await lab.Admin.RunAsync($"logs deployment/{name} -n {SystemNamespace} --tail=30", check: false);
            throw new Xunit.Sdk.XunitException($"the Deployment did not roll out ({stderr.Trim()}): {pods}\n{logs}");
        }
    }

    private async Task<JsonObject> RunningPodAsync(string name)
    {
        var pods = (await lab.Admin.GetAsync($"pods -l app.kubernetes.io/name={name}", SystemNamespace))["items"]!.AsArray()
            .Select(p => p!.AsObject()).Where(p => (string?)p["status"]!["phase"] == "Running" && p["metadata"]!["deletionTimestamp"] is null).ToList();
        return Assert.Single(pods);
    }

    /// <summary>Asked of the running process itself (its /proc entry on this machine), not of the pod's spec.</summary>
    private async Task AssertNonRootAndReadOnlyAsync(JsonObject pod)
    {
        var id = ((string)pod["status"]!["containerStatuses"]![0]!["containerID"]!).Split("://")[1];
        var node = lab.Nodes.ToList().IndexOf((string)pod["spec"]!["nodeName"]!);
        var task = (await NodeLab.CtrAsync(lab.ContainerdSockets[node], "tasks ls")).Split('\n')
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Single(f => f.Length > 1 && f[0] == id);
        var pid = task[1];
        var uids = File.ReadLines($"/proc/{pid}/status").Single(l => l.StartsWith("Uid:", StringComparison.Ordinal))
            .Split('\t', StringSplitOptions.RemoveEmptyEntries).Skip(1).Distinct();
        Assert.Equal(["1654"], uids);
        // mountinfo: ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS ...: the container's "/" is mounted read-only.
        var root = File.ReadLines($"/proc/{pid}/mountinfo").Select(l => l.Split(' ')).Last(f => f[4] == "/");
        Assert.Contains("ro", root[5].Split(','));
    }

    private async Task ImagesBecomeAsync(StandIn source, string ns, string uid, params string[] images)
    {
        var expected = images.Select(i => ExpectedNames.Image("web", uid, i)).Order().ToList();
        await Poll.TrueAsync(async () => (await ImageNamesAsync(ns)).SequenceEqual(expected), TimeSpan.FromSeconds(90), async () =>
            $"Images in {ns} are [{string.Join(", ", await ImageNamesAsync(ns))}], expected [{string.Join(", ", expected)}]; the stand-in said:\n{source.Log}\n"
            + await lab.Admin.RunAsync($"logs deployment/cachier -n {SystemNamespace} --tail=30", check: false));
    }

    /// <summary>A Deployment serving on 127.0.0.1:<see cref="Port"/>; deleted when disposed.</summary>
    private sealed class Served(NodeLab lab, string name, int port, Dictionary<string, string> env) : IAsyncDisposable
    {
        public int Port => port;

        /// <summary>
        /// The ApiServerSource stand-in delivering to it with the identity Knative's source would have (the first of
        /// its allowed subjects) and a token for its audience: sender authentication stays on.
        /// </summary>
        public async Task<StandIn> SourceAsync(params string[] args)
        {
            var sender = env["Cachier__Authentication__AllowedSubjects"].Split(',')[0].Split(':');
            await lab.Admin.ApplyAsync(new JsonObject
            {
                ["apiVersion"] = "v1",
                ["kind"] = "ServiceAccount",
                ["metadata"] = new JsonObject { ["name"] = sender[3], ["namespace"] = sender[2] },
            }.ToJsonString());
            var source = new StandIn([
                "--kubeconfig", lab.Admin.Kubeconfig, "--sink", $"http://127.0.0.1:{port}/", "--mode", "Reference",
                "--source-namespace", SystemNamespace, "--audience", env["Cachier__Authentication__Audience"],
                "--service-account", $"{sender[2]}/{sender[3]}", .. args]);
            await source.WatchingAsync(args.Count(a => a == "--resource"));
            return source;
        }

        public Task<string> LogsAsync() => lab.Admin.RunAsync($"logs deployment/{name} -n {SystemNamespace} --tail=30", check: false);

        public async ValueTask DisposeAsync() =>
            await lab.Admin.RunAsync($"delete deployment {name} -n {SystemNamespace} --ignore-not-found --wait=false", check: false);
    }

    private async Task<List<string>> ImageNamesAsync(string ns) =>
        (await lab.Admin.ImagesAsync(ns)).Select(i => (string)i["metadata"]!["name"]!).Order().ToList();

    private static KeyValuePair<string, string> Split(string assignment) =>
        new(assignment[..assignment.IndexOf('=', StringComparison.Ordinal)], assignment[(assignment.IndexOf('=', StringComparison.Ordinal) + 1)..]);
}

/// <summary>The runtime stage of a Dockerfile (after its last FROM): the instructions that make an image's configuration.</summary>
internal sealed partial class DockerfileRuntimeStage
{
    public Dictionary<string, string> Args { get; } = [];

    public List<KeyValuePair<string, string>> Env { get; } = [];

    public Dictionary<string, string> Labels { get; } = [];

    public List<string> Expose { get; } = [];

    public string User { get; private set; } = "";

    public string WorkDir { get; private set; } = "";

    public List<string> Entrypoint { get; } = [];

    public static DockerfileRuntimeStage Read(string path)
    {
        // Logical lines: comment lines dropped (also inside a continuation), continuations joined.
        var logical = new List<string>();
        var current = "";
        foreach (var raw in File.ReadLines(path).Select(l => l.Trim()).Where(l => !l.StartsWith('#')))
        {
            current += raw.EndsWith('\\') ? raw[..^1] + " " : raw;
            if (!raw.EndsWith('\\'))
            {
                if (current.Trim().Length > 0)
                {
                    logical.Add(current.Trim());
                }

                current = "";
            }
        }

        var stage = new DockerfileRuntimeStage();
        foreach (var line in logical.Skip(logical.FindLastIndex(l => l.StartsWith("FROM ", StringComparison.Ordinal)) + 1))
        {
            var (instruction, rest) = (line[..line.IndexOf(' ', StringComparison.Ordinal)], line[(line.IndexOf(' ', StringComparison.Ordinal) + 1)..].Trim());
            switch (instruction)
            {
                case "ARG":
                    var arg = Pairs(rest).Single();
                    stage.Args[arg.Key] = arg.Value;
                    break;
                case "ENV":
                    stage.Env.AddRange(Pairs(rest));
                    break;
                case "LABEL":
                    foreach (var (key, value) in Pairs(rest))
                    {
                        stage.Labels[key] = value;
                    }

                    break;
                case "EXPOSE":
                    stage.Expose.AddRange(rest.Split(' ', StringSplitOptions.RemoveEmptyEntries));
                    break;
                case "USER":
                    stage.User = rest;
                    break;
                case "WORKDIR":
                    stage.WorkDir = rest;
                    break;
                case "ENTRYPOINT":
                    stage.Entrypoint.AddRange(JsonNode.Parse(rest)!.AsArray().Select(e => (string)e!));
                    break;
                case "COPY":
                    break;
                default:
                    throw new Xunit.Sdk.XunitException($"the runtime stage has an instruction this comparison does not know: {line}");
            }
        }

        return stage;
    }

    /// <summary>$NAME and ${NAME} replaced by their values in <paramref name="values"/>.</summary>
    public static string Expand(string text, IReadOnlyDictionary<string, string> values) =>
        Variable().Replace(text, m => values.TryGetValue(m.Groups[1].Success ? m.Groups[1].Value : m.Groups[2].Value, out var v)
            ? v
            : throw new Xunit.Sdk.XunitException($"{m.Value} has no value"));

    /// <summary>KEY=VALUE pairs separated by blanks; a value may be double-quoted (and may then hold blanks).</summary>
    private static IEnumerable<KeyValuePair<string, string>> Pairs(string text) =>
        Pair().Matches(text).Select(m => new KeyValuePair<string, string>(m.Groups[1].Value, m.Groups[2].Success ? m.Groups[2].Value : m.Groups[3].Value));

    [GeneratedRegex("""([A-Za-z0-9_.\-]+)=(?:"([^"]*)"|(\S*))""")]
    private static partial Regex Pair();

    [GeneratedRegex(@"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")]
    private static partial Regex Variable();
}
