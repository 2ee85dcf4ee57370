using Cachier.Domain;

namespace Cachier.Tests.Unit;

/// <summary>SPEC section 3: the <c>cachier.mattmoor.io/decorate</c> annotation, compared case-insensitively.</summary>
public class DecorateAnnotationTests
{
    private static readonly PodTemplate Pod = new(["nginx:1.27"], null, []);

    public static TheoryData<string?, bool, bool> Table()
    {
        var table = new TheoryData<string?, bool, bool>();
        foreach (var on in new[] { "true", "TRUE", "True", "on", "ON", "On", "enable", "Enable", "ENABLE", "enabled", "Enabled", "ENABLED", "eNaBlEd" })
        {
            // Opt-in wins even over a controller.
            table.Add(on, false, true);
            table.Add(on, true, true);
        }

        foreach (var off in new[] { "false", "FALSE", "False", "off", "OFF", "Off", "disable", "Disable", "DISABLE", "disabled", "Disabled", "DISABLED", "dIsAbLeD" })
        {
            table.Add(off, false, false);
            table.Add(off, true, false);
        }

        // Absent or anything else: the default rule, cached unless controlled.
        foreach (var other in new[] { null, "", "yes", "no", "1", "0", "t", "enabledd", "truee", "of", "garbage", "decorate" })
        {
            table.Add(other, false, true);
            table.Add(other, true, false);
        }

        return table;
    }

    [Theory]
    [MemberData(nameof(Table))]
    public void ShouldCache_follows_the_decorate_annotation_then_the_controller_rule(string? decorate, bool hasController, bool expected)
    {
        var (cache, reason) = ImagePlanner.ShouldCache(Workload(decorate, hasController));

        Assert.True(expected == cache, $"decorate={decorate ?? "<absent>"}, controller={hasController}: expected cache={expected}, got {cache} ({reason})");
        Assert.False(string.IsNullOrWhiteSpace(reason));
    }

    [Theory]
    [MemberData(nameof(Table))]
    public void Plan_has_images_exactly_when_the_workload_is_cached(string? decorate, bool hasController, bool expected)
    {
        var plan = ImagePlanner.Plan(Workload(decorate, hasController));

        Assert.Equal(expected, plan.Cache);
        Assert.Equal(expected ? 1 : 0, plan.Images.Count);
    }

    private static Workload Workload(string? decorate, bool hasController) =>
        new("apps/v1", "ReplicaSet", "shop", "web-7d4b9c8f6d", "99999999-9999-4999-8999-999999999999", 1, decorate, hasController, Pod);
}
