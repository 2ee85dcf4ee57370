using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Cachier.Domain;
using Cachier.Kubernetes;
using Cachier.Tests.Support;

namespace Cachier.Tests.Unit;

/// <summary>
/// Golden files for the warmer (SPEC section 11): <c>testassets/warm/&lt;case&gt;/input.json</c> (the time, limits and
/// pull pod template overrides, nodes, Images with status, their owners by uid, existing pull pods, refused creates)
/// goes through WarmResources' readers -> WarmPlanner -> WarmResources' writers, as one warm pass does, and must equal
/// <c>expected.json</c> (pods to create, pods to delete, status patches, and whether the pass leaves the cluster settled:
/// nothing in it waits on the time), hand-written from SPEC 11.
/// A new case is a new folder.
/// </summary>
public class WarmPlannerGoldenTests
{
    private static readonly string Root = GoldenCases.Root("warm");

    /// <summary>The defaults of <c>Cachier:Warmer</c>, written out here rather than read from the product.</summary>
    private static readonly PullPodTemplate DefaultTemplate = new("busybox:1.36-musl", ["/bin/cp", "/bin/true", "/warm/true"], 65532, TimeSpan.FromMinutes(10), PullPodTemplate.ScopeOf(null));

    public static TheoryData<string> Cases() => GoldenCases.In(Root);

    [Theory]
    [MemberData(nameof(Cases))]
    public void Warm_pass_produces_the_expected_pods_and_statuses(string name)
    {
        var folder = Path.Combine(Root, name);
        var expected = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "expected.json")));

        var actual = Run(folder);

        JsonDiff.AssertEqual(expected, actual, $"testassets/warm/{name}");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Warm_pass_is_the_same_for_the_same_input(string name)
    {
        var folder = Path.Combine(Root, name);

        Assert.Equal(JsonDiff.Print(Run(folder)), JsonDiff.Print(Run(folder)));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Every_pull_pod_name_is_a_DNS_label(string name)
    {
        var created = Run(Path.Combine(Root, name))["create"]!.AsArray();

        Assert.All(created, pod =>
        {
            var podName = (string)pod!["metadata"]!["name"]!;
            Assert.True(podName.Length <= 63 && Names.IsDnsLabel(podName), $"'{podName}' is not a DNS label");
        });
    }

    [Fact]
    public void Every_case_folder_holds_an_input_and_its_expected_pass()
    {
        var folders = Directory.EnumerateDirectories(Root).ToList();

        Assert.True(folders.Count >= 14, $"only {folders.Count} warm cases under {Root}");
        Assert.All(folders, folder =>
        {
            Assert.True(File.Exists(Path.Combine(folder, "input.json")), $"{folder} has no input.json");
            Assert.True(File.Exists(Path.Combine(folder, "expected.json")), $"{folder} has no expected.json");
        });
    }

    /// <summary>One warm pass as the Warmer runs it, without I/O: read, plan, and (after refused creates) plan the statuses again.</summary>
    private static JsonObject Run(string folder)
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(folder, "input.json")));
        var input = document.RootElement;
        var now = DateTimeOffset.Parse(input.GetProperty("now").GetString()!, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
        var limits = Limits(input);
        var template = Template(input);
        var nodes = Items(input, "nodes").Select(WarmResources.ReadNode).ToList();
        var owners = input.TryGetProperty("owners", out var o) ? o : default;
        var images = Items(input, "images").Select(WarmResources.ReadImage).Select(t => t.Image with { Scheduling = Scheduling(t.Owner, owners) }).ToList();
        var pods = Items(input, "pods").Select(WarmResources.ReadPullPod).ToList();

        var plan = WarmPlanner.Plan(now, nodes, images, pods, limits);
        var refused = Refused(input);
        var statuses = refused.Count == 0 ? plan.Statuses : WarmPlanner.Plan(now, nodes, images, pods, limits, refused).Statuses;

        return new JsonObject
        {
            ["create"] = new JsonArray(plan.Create.Select(p => (JsonNode)WarmResources.BuildPullPod(p, template)).ToArray()),
            ["delete"] = new JsonArray(plan.Delete.Select(p => (JsonNode)JsonValue.Create($"{p.Namespace}/{p.Name}")).ToArray()),
            ["statuses"] = new JsonArray(statuses.Select(s => (JsonNode)new JsonObject
            {
                ["image"] = $"{s.Namespace}/{s.Name}",
                ["patch"] = WarmResources.BuildStatusPatch(s.Status),
            }).ToArray()),
            ["settled"] = plan.Settled,
        };
    }

    /// <summary>As the Warmer reads owners: no controller reference, no such owner, or another uid -> null (any untainted node).</summary>
    private static Scheduling? Scheduling(OwnerRef? owner, JsonElement owners) =>
        owner is not null && owners.ValueKind == JsonValueKind.Object && owners.TryGetProperty(owner.Uid, out var found)
            && found.GetProperty("metadata").GetProperty("uid").GetString() == owner.Uid
            ? WarmResources.ReadScheduling(found)
            : null;

    private static WarmLimits Limits(JsonElement input)
    {
        var limits = WarmLimits.Default;
        if (!input.TryGetProperty("limits", out var l))
        {
            return limits;
        }

        foreach (var p in l.EnumerateObject())
        {
            limits = p.Name switch
            {
                "maxPodsPerNode" => limits with { MaxPodsPerNode = p.Value.GetInt32() },
                "maxPods" => limits with { MaxPods = p.Value.GetInt32() },
                "imagesPerPod" => limits with { ImagesPerPod = p.Value.GetInt32() },
                "retryBase" => limits with { RetryBase = TimeSpan.Parse(p.Value.GetString()!, CultureInfo.InvariantCulture) },
                "retryMax" => limits with { RetryMax = TimeSpan.Parse(p.Value.GetString()!, CultureInfo.InvariantCulture) },
                "pulledGrace" => limits with { PulledGrace = TimeSpan.Parse(p.Value.GetString()!, CultureInfo.InvariantCulture) },
                _ => throw new InvalidOperationException($"unknown limit '{p.Name}'"),
            };
        }

        return limits;
    }

    private static PullPodTemplate Template(JsonElement input)
    {
        var template = DefaultTemplate;
        if (!input.TryGetProperty("template", out var t))
        {
            return template;
        }

        foreach (var p in t.EnumerateObject())
        {
            template = p.Name switch
            {
                "helperImage" => template with { HelperImage = p.Value.GetString()! },
                "helperCommand" => template with { HelperCommand = p.Value.EnumerateArray().Select(v => v.GetString()!).ToList() },
                "runAsUser" => template with { RunAsUser = p.Value.GetInt64() },
                "deadline" => template with { Deadline = TimeSpan.Parse(p.Value.GetString()!, CultureInfo.InvariantCulture) },
                _ => throw new InvalidOperationException($"unknown template field '{p.Name}'"),
            };
        }

        return template;
    }

    /// <summary><c>refused</c>: [{namespace, node, serviceAccountName?, imagePullSecrets?, image, message}], as the Warmer collects them.</summary>
    private static Dictionary<(string, string, string, string), string> Refused(JsonElement input)
    {
        var refused = new Dictionary<(string, string, string, string), string>();
        foreach (var r in Items(input, "refused"))
        {
            var credentials = new Credentials(
                r.TryGetProperty("serviceAccountName", out var sa) ? sa.GetString() : null,
                r.TryGetProperty("imagePullSecrets", out var s) ? s.EnumerateArray().Select(v => v.GetString()!).ToList() : []);
            refused[(r.GetProperty("namespace").GetString()!, r.GetProperty("node").GetString()!, credentials.Key, r.GetProperty("image").GetString()!)] =
                r.GetProperty("message").GetString()!;
        }

        return refused;
    }

    private static IEnumerable<JsonElement> Items(JsonElement input, string name) =>
        input.TryGetProperty(name, out var list) ? list.EnumerateArray() : [];
}
