using System.Text.Json.Nodes;
using static Cachier.Tests.Support.AppHost;
using static Cachier.Tests.Support.CloudEvents;
using static Cachier.Tests.Support.Objects;

namespace Cachier.Tests.Contract;

/// <summary>
/// SPEC section 5 step 2 (issue 17, part 2): the object a Resource-mode event carries is a claim. By default it is not
/// used: the real object is read with a GET. Trusting it is an operator's setting (with sender authentication on), and
/// even then one event cannot push the stale guard past the object's real generation.
/// </summary>
public sealed class EmbeddedObjectContractTests
{
    private const string Uid = "5b1c7f3e-2d4a-4c8b-9e6f-0a1b2c3d4e5f";
    private static readonly string WebPath = WorkloadPath("apps/v1", "deployments", Ns, "web");

    [Fact]
    public async Task Resource_event_is_reconciled_from_the_object_read_not_the_one_it_carries()
    {
        using var host = Start();
        var real = Deployment("web", Uid, 2, ["nginx:1.25"]);
        var forged = Deployment("web", Uid, 2, ["evil.example/miner:1"], serviceAccount: "cluster-admin-sa", pullSecrets: ["stolen"]);
        host.StubGetWorkload("apps/v1", "deployments", Ns, "web", real);
        host.StubListImages(Ns);
        host.StubCreate(Ns);

        await OutcomeAsync(await host.SendResourceAsync("update", forged));

        Assert.Equal($"GET {WebPath}", host.Lines[0]);
        AssertCreates(Assert.Single(host.Writes), real, "nginx:1.25");
    }

    [Fact]
    public async Task Forged_opt_out_with_a_real_uid_deletes_nothing()
    {
        using var host = Start();
        var real = Deployment("web", Uid, 2, ["nginx:1.25"]);
        var forged = Deployment("web", Uid, 3, ["nginx:1.25"], decorate: "false");
        host.StubGetWorkload("apps/v1", "deployments", Ns, "web", real);
        host.StubListImages(Ns, OurImage(real, "nginx:1.25", "img-1", "10"));

        var outcome = await OutcomeAsync(await host.SendResourceAsync("update", forged));

        Assert.Equal("reconciled", (string?)outcome["result"]);
        Assert.Empty(host.Writes);
    }

    [Fact]
    public async Task Forged_generation_cannot_freeze_a_workload_by_default()
    {
        using var host = Start();
        var real = Deployment("web", Uid, 3, ["nginx:1.25", "redis:7"]);
        var forged = Deployment("web", Uid, 999_999_999, ["nginx:1.25", "redis:7"]);
        host.StubGetWorkload("apps/v1", "deployments", Ns, "web", real);
        host.StubListImages(Ns, OurImage(Deployment("web", Uid, 2, ["nginx:1.25"]), "nginx:1.25", "img-1", "10"));
        host.StubCreate(Ns);

        await OutcomeAsync(await host.SendResourceAsync("update", forged));

        var create = Assert.Single(host.Writes);
        Assert.Equal(Generation(3), (string?)create.Json["metadata"]!["labels"]!["generation"]);
    }

    [Fact]
    public async Task Trusted_embedded_object_cannot_push_the_generation_label_past_the_real_generation()
    {
        using var host = StartTrusting();
        var real = Deployment("web", Uid, 3, ["nginx:1.25", "redis:7"]);
        var forged = Deployment("web", Uid, 999_999_999, ["nginx:1.25", "redis:7"]);
        host.StubGetWorkload("apps/v1", "deployments", Ns, "web", real);
        host.StubListImages(Ns, OurImage(Deployment("web", Uid, 2, ["nginx:1.25"]), "nginx:1.25", "img-1", "10"));
        host.StubCreate(Ns);
        host.StubPatch(Ns, ExpectedNames.Image("web", Uid, "nginx:1.25"));

        await OutcomeAsync(await host.SendResourceAsync("update", forged));

        // The embedded generation was above every label: the object was read, and only its real generation written.
        Assert.Contains($"GET {WebPath}", host.Lines);
        Assert.NotEmpty(host.Writes);
        Assert.All(host.Writes, w => Assert.Equal(Generation(3), (string?)w.Json["metadata"]!["labels"]!["generation"]));
    }

    [Fact]
    public async Task Trusted_embedded_object_at_the_applied_generation_is_used_without_a_get()
    {
        using var host = StartTrusting();
        var web = Deployment("web", Uid, 2, ["nginx:1.25"]);
        host.StubListImages(Ns, OurImage(web, "nginx:1.25", "img-1", "10"));

        var outcome = await OutcomeAsync(await host.SendResourceAsync("update", web));

        Assert.Equal("reconciled", (string?)outcome["result"]);
        Assert.Equal([$"GET {ImagesPath(Ns)}{ControllerQuery(Uid)}"], host.Lines);
    }

    [Theory]
    [InlineData("a/b")]
    [InlineData("x y")]
    [InlineData("controller=x,generation")]
    [InlineData("uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu")]
    public async Task Resource_event_with_a_forged_uid_is_a_400_without_any_api_call(string uid)
    {
        using var host = StartTrusting();
        var forged = Deployment("web", Uid, 2, ["nginx:1.25"]);
        forged["metadata"]!["uid"] = uid;

        var problem = await ProblemAsync(await host.SendResourceAsync("update", forged), System.Net.HttpStatusCode.BadRequest);

        Assert.Contains("uid", (string?)problem["detail"]);
        Assert.Empty(host.Calls);
    }
}
