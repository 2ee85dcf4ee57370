using System.Text.Json;
using System.Text.Json.Nodes;
using Cachier.Domain;
using Cachier.Kubernetes;
using Cachier.Tests.Support;

namespace Cachier.Tests.Unit;

/// <summary>
/// Golden files: <c>testassets/planner/&lt;case&gt;/workload.json</c> goes through WorkloadReader -> ImagePlanner ->
/// ImageResources and must serialise to <c>expected.json</c>, hand-written from SPEC sections 3-4.
/// A new case is a new folder.
/// </summary>
public class PlannerGoldenTests
{
    private static readonly string Root = GoldenCases.Root("planner");

    public static TheoryData<string> Cases() => GoldenCases.In(Root);

    [Theory]
    [MemberData(nameof(Cases))]
    public void Plan_produces_the_expected_images(string name)
    {
        var folder = Path.Combine(Root, name);
        var expected = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "expected.json")));
        Assert.IsType<JsonArray>(expected);

        var (plan, actual) = Run(folder);

        JsonDiff.AssertEqual(expected, actual, $"testassets/planner/{name} (plan: cache={plan.Cache}, {plan.Reason})");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Every_planned_image_name_is_a_DNS_subdomain_of_at_most_63_characters(string name)
    {
        var (plan, _) = Run(Path.Combine(Root, name));

        Assert.All(plan.Images, image =>
        {
            Assert.True(image.Name.Length <= 63, $"'{image.Name}' has {image.Name.Length} characters");
            Assert.True(Names.IsDnsSubdomain(image.Name), $"'{image.Name}' is not a DNS subdomain");
        });
    }

    [Fact]
    public void Every_case_folder_holds_a_workload_and_its_expected_images()
    {
        var folders = Directory.EnumerateDirectories(Root).ToList();

        Assert.True(folders.Count >= 17, $"only {folders.Count} planner cases under {Root}");
        Assert.All(folders, folder =>
        {
            Assert.True(File.Exists(Path.Combine(folder, "workload.json")), $"{folder} has no workload.json");
            Assert.True(File.Exists(Path.Combine(folder, "expected.json")), $"{folder} has no expected.json");
        });
    }

    [Fact]
    public void Plan_of_an_object_without_a_pod_spec_is_not_cached()
    {
        var workload = Read(Path.Combine(Root, "no-pod-spec"));

        Assert.Null(workload.Pod);
        var plan = ImagePlanner.Plan(workload);
        Assert.False(plan.Cache);
        Assert.Empty(plan.Images);
        Assert.Equal("no pod spec", plan.Reason);
    }

    [Fact]
    public void Plan_skips_controlled_objects()
    {
        var plan = ImagePlanner.Plan(Read(Path.Combine(Root, "replicaset-controlled")));

        Assert.False(plan.Cache);
        Assert.Empty(plan.Images);
    }

    [Fact]
    public void Plan_of_an_opted_out_workload_is_not_cached()
    {
        var plan = ImagePlanner.Plan(Read(Path.Combine(Root, "deployment-opted-out")));

        Assert.False(plan.Cache);
        Assert.Empty(plan.Images);
    }

    [Fact]
    public void Plan_is_the_same_for_the_same_workload()
    {
        var folder = Path.Combine(Root, "deployment-init-and-duplicates");

        Assert.Equal(Run(folder).Json.ToJsonString(), Run(folder).Json.ToJsonString());
    }

    private static Workload Read(string folder)
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(folder, "workload.json")));
        return WorkloadReader.Read(document.RootElement);
    }

    private static (ImagePlan Plan, JsonArray Json) Run(string folder)
    {
        var plan = ImagePlanner.Plan(Read(folder));
        var images = new JsonArray();
        foreach (var image in plan.Images)
        {
            images.Add(JsonNode.Parse(JsonSerializer.Serialize(ImageResources.Build(plan, image), WireJson.Default.ImageObject)));
        }

        return (plan, images);
    }
}
