using System.Text.Json.Nodes;
using static Cachier.Tests.Support.AppHost;
using static Cachier.Tests.Support.CloudEvents;
using static Cachier.Tests.Support.Objects;

namespace Cachier.Tests.Contract;

/// <summary>
/// The reconcile matrix of SPEC section 5, one named case each (knative table_test, sample-controller
/// controller_test), run through the real app against a fake API server: exact verbs, paths, queries and bodies.
/// </summary>
public sealed class ReconcileContractTests
{
    private const string Uid = "5b1c7f3e-2d4a-4c8b-9e6f-0a1b2c3d4e5f";
    private const string SampleUid = "a792cd10-ca9d-11e8-b5eb-42010af000a3";
    private static readonly string DeploymentPath = WorkloadPath("apps/v1", "deployments", Ns, "web");

    private static JsonObject Web(long generation = 2, string[]? containers = null, string[]? init = null, string? serviceAccount = "web-sa",
        string[]? pullSecrets = null, string? decorate = null) =>
        Deployment("web", Uid, generation, containers ?? ["nginx:1.25", "envoy:1.30", "nginx:1.25"], init ?? ["alpine:3.20"],
            serviceAccount, pullSecrets ?? ["regcred"], decorate);

    private static JsonObject ImageOf(JsonObject workload, string image, string imageUid, string resourceVersion = "100", long? labelGeneration = null) =>
        OurImage(workload, image, imageUid, resourceVersion, labelGeneration);

    [Fact]
    public async Task Reconcile_creates_one_image_per_distinct_image_on_first_reference_event()
    {
        using var host = Start();
        var web = Web();
        host.StubGetWorkload("apps/v1", "deployments", Ns, "web", web);
        host.StubListImages(Ns);
        host.StubCreate(Ns);

        var outcome = await OutcomeAsync(await host.SendRefAsync("add", "apps/v1", "Deployment", Ns, "web"));

        var calls = host.Calls;
        Assert.Equal(5, calls.Count);
        Assert.Equal($"GET {DeploymentPath}", calls[0].Line);
        Assert.Equal($"GET {ImagesPath(Ns)}{ControllerQuery(Uid)}", calls[1].Line);
        var creates = calls.Skip(2).OrderBy(c => (string?)c.Json["spec"]!["image"], StringComparer.Ordinal).ToList();
        AssertCreates(creates[0], web, "alpine:3.20", "web-sa", ["regcred"]);
        AssertCreates(creates[1], web, "envoy:1.30", "web-sa", ["regcred"]);
        AssertCreates(creates[2], web, "nginx:1.25", "web-sa", ["regcred"]);

        Assert.Equal("reconciled", (string?)outcome["result"]);
        Assert.Equal(3, (int?)outcome["created"]);
        Assert.Equal("web", (string?)outcome["name"]);
        Assert.Equal(Ns, (string?)outcome["namespace"]);
    }

    [Fact]
    public async Task Reconcile_omits_service_account_and_pull_secrets_when_the_pod_spec_has_none()
    {
        using var host = Start();
        var web = Deployment("web", Uid, 1, ["nginx:1.25"]);
        host.StubGetWorkload("apps/v1", "deployments", Ns, "web", web);
        host.StubListImages(Ns);
        host.StubCreate(Ns);

        await OutcomeAsync(await host.SendRefAsync("add", "apps/v1", "Deployment", Ns, "web"));

        AssertCreates(Assert.Single(host.Writes), web, "nginx:1.25");
    }

    [Fact]
    public async Task Reconcile_makes_no_writes_when_the_listed_images_already_match()
    {
        using var host = Start();
        var web = Web();
        host.StubGetWorkload("apps/v1", "deployments", Ns, "web", web);
        host.StubListImages(Ns, ImageOf(web, "alpine:3.20", "i-1"), ImageOf(web, "envoy:1.30", "i-2"), ImageOf(web, "nginx:1.25", "i-3"));

        var outcome = await OutcomeAsync(await host.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web"));

        Assert.Equal([$"GET {DeploymentPath}", $"GET {ImagesPath(Ns)}{ControllerQuery(Uid)}"], host.Lines);
        Assert.Equal("reconciled", (string?)outcome["result"]);
        Assert.Equal(0, (int?)outcome["created"]);
        Assert.Equal(0, (int?)outcome["updated"]);
        Assert.Equal(0, (int?)outcome["deleted"]);
        Assert.Equal(3, (int?)outcome["unchanged"]);
    }

    [Fact]
    public async Task Resource_add_sample_reads_the_object_and_creates_its_image()
    {
        using var host = Start();
        var sample = JsonNode.Parse(Sample("01-resource-add.data.json"))!.AsObject();
        host.StubGetWorkload("apps/v1", "deployments", Ns, "dummy", sample);
        host.StubListImages(Ns);
        host.StubCreate(Ns);

        var outcome = await OutcomeAsync(await host.SendSampleBinaryAsync("01-resource-add.structured.json", "01-resource-add.data.json"));

        var calls = host.Calls;
        Assert.Equal(3, calls.Count);
        Assert.Equal($"GET {WorkloadPath("apps/v1", "deployments", Ns, "dummy")}", calls[0].Line);
        Assert.Equal($"GET {ImagesPath(Ns)}{ControllerQuery(SampleUid)}", calls[1].Line);
        AssertCreates(calls[2], sample, "ubuntu");
        // Golden value (sha256sum of "a792cd10-ca9d-11e8-b5eb-42010af000a3/ubuntu"), pinning the naming rule itself.
        Assert.Equal("dummy-af28c54a78", (string?)calls[2].Json["metadata"]!["name"]);
        Assert.Equal("00001", (string?)calls[2].Json["metadata"]!["labels"]!["generation"]);
        Assert.Equal("reconciled", (string?)outcome["result"]);
        Assert.Equal(1, (int?)outcome["created"]);
    }

    [Fact]
    public async Task Resource_update_sample_updates_the_existing_image_in_place_and_creates_the_new_ones()
    {
        using var host = Start();
        var sample01 = JsonNode.Parse(Sample("01-resource-add.data.json"))!.AsObject();
        var sample02 = JsonNode.Parse(Sample("02-resource-update.data.json"))!.AsObject();
        var ubuntu = OurImage(sample01, "ubuntu", "img-ubuntu", "5000");
        var ubuntuName = ExpectedNames.Image("dummy", SampleUid, "ubuntu");
        host.StubGetWorkload("apps/v1", "deployments", Ns, "dummy", sample02);
        host.StubListImages(Ns, ubuntu);
        host.StubCreate(Ns);
        host.StubPatch(Ns, ubuntuName);

        var outcome = await OutcomeAsync(await host.SendStructuredAsync(Sample("02-resource-update.structured.json")));

        var calls = host.Calls;
        Assert.Equal(5, calls.Count);
        Assert.Equal($"GET {WorkloadPath("apps/v1", "deployments", Ns, "dummy")}", calls[0].Line);
        Assert.Equal($"GET {ImagesPath(Ns)}{ControllerQuery(SampleUid)}", calls[1].Line);
        var creates = calls.Where(c => c.Method == "POST").OrderBy(c => (string?)c.Json["spec"]!["image"], StringComparer.Ordinal).ToList();
        Assert.Equal(2, creates.Count);
        AssertCreates(creates[0], sample02, "alpine:3.20", "dummy-sa", ["regcred"]);
        AssertCreates(creates[1], sample02, "busybox:1.36", "dummy-sa", ["regcred"]);
        var patch = AssertPatches(Assert.Single(calls, c => c.Method == "PATCH"), ubuntuName, "5000", SampleUid, 2);
        AssertPullSpec(patch["spec"]!.AsObject(), "dummy-sa", ["regcred"], omitWhenEmpty: false);
        Assert.DoesNotContain(calls, c => c.Method == "DELETE");

        Assert.Equal("reconciled", (string?)outcome["result"]);
        Assert.Equal(2, (int?)outcome["created"]);
        Assert.Equal(1, (int?)outcome["updated"]);
        Assert.Equal(0, (int?)outcome["deleted"]);
    }

    [Fact]
    public async Task Reconcile_replaces_the_image_when_the_container_image_changes()
    {
        using var host = Start();
        var before = Deployment("web", Uid, 2, ["nginx:1.25"]);
        var after = Deployment("web", Uid, 3, ["nginx:1.26"]);
        var old = ImageOf(before, "nginx:1.25", "img-old", "77");
        var oldName = ExpectedNames.Image("web", Uid, "nginx:1.25");
        host.StubGetWorkload("apps/v1", "deployments", Ns, "web", after);
        host.StubListImages(Ns, old);
        host.StubCreate(Ns);
        host.StubDelete(Ns, oldName);

        var outcome = await OutcomeAsync(await host.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web"));

        var calls = host.Calls;
        Assert.Equal([$"GET {DeploymentPath}", $"GET {ImagesPath(Ns)}{ControllerQuery(Uid)}"], calls.Take(2).Select(c => c.Line));
        Assert.Equal(["DELETE", "POST"], calls.Skip(2).Select(c => c.Method).Order());
        AssertCreates(Assert.Single(calls, c => c.Method == "POST"), after, "nginx:1.26");
        AssertDeletes(Assert.Single(calls, c => c.Method == "DELETE"), oldName, "img-old", "77");
        Assert.Equal(1, (int?)outcome["created"]);
        Assert.Equal(1, (int?)outcome["deleted"]);
    }

    [Fact]
    public async Task Reconcile_patches_the_image_when_service_account_or_pull_secrets_change()
    {
        using var host = Start();
        var before = Deployment("web", Uid, 2, ["nginx:1.25"], serviceAccount: "old-sa", pullSecrets: ["old-cred"]);
        var after = Deployment("web", Uid, 3, ["nginx:1.25"], serviceAccount: "new-sa", pullSecrets: ["regcred", "mirror"]);
        var name = ExpectedNames.Image("web", Uid, "nginx:1.25");
        host.StubGetWorkload("apps/v1", "deployments", Ns, "web", after);
        host.StubListImages(Ns, ImageOf(before, "nginx:1.25", "img-1", "321"));
        host.StubPatch(Ns, name);

        var outcome = await OutcomeAsync(await host.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web"));

        Assert.Equal(3, host.Calls.Count);
        var patch = AssertPatches(Assert.Single(host.Writes), name, "321", Uid, 3);
        AssertPullSpec(patch["spec"]!.AsObject(), "new-sa", ["regcred", "mirror"], omitWhenEmpty: false);
        Assert.Null(patch["spec"]!["image"]);
        Assert.Equal(1, (int?)outcome["updated"]);
        Assert.Equal(0, (int?)outcome["created"]);
    }

    [Fact]
    public async Task Reconcile_patch_removes_the_service_account_and_pull_secrets_the_workload_dropped()
    {
        using var host = Start();
        var before = Deployment("web", Uid, 2, ["nginx:1.25"], serviceAccount: "old-sa", pullSecrets: ["old-cred"]);
        var after = Deployment("web", Uid, 3, ["nginx:1.25"]);
        var name = ExpectedNames.Image("web", Uid, "nginx:1.25");
        host.StubGetWorkload("apps/v1", "deployments", Ns, "web", after);
        host.StubListImages(Ns, ImageOf(before, "nginx:1.25", "img-1", "321"));
        host.StubPatch(Ns, name);

        await OutcomeAsync(await host.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web"));

        var patch = AssertPatches(Assert.Single(host.Writes), name, "321", Uid, 3);
        AssertPullSpec(patch["spec"]!.AsObject(), null, null, omitWhenEmpty: false);
    }

    [Fact]
    public async Task Reconcile_retries_a_patch_with_the_fresh_resource_version_after_409_conflict()
    {
        using var host = Start();
        var before = Deployment("web", Uid, 2, ["nginx:1.25"]);
        var after = Deployment("web", Uid, 3, ["nginx:1.25"], serviceAccount: "web-sa");
        var name = ExpectedNames.Image("web", Uid, "nginx:1.25");
        host.StubGetWorkload("apps/v1", "deployments", Ns, "web", after);
        host.StubListImages(Ns, ImageOf(before, "nginx:1.25", "img-1", "321"));
        host.StubGetImage(Ns, name, ImageOf(before, "nginx:1.25", "img-1", "322"));
        var patch = WireMock.RequestBuilders.Request.Create().WithPath(ImagePath(Ns, name)).UsingPatch();
        host.Api.Given(patch).InScenario("conflict").WillSetStateTo("conflicted")
            .RespondWith(WireMock.ResponseBuilders.Response.Create().WithStatusCode(409).WithHeader("Content-Type", "application/json").WithBody(Status(409, "Conflict").ToJsonString()));
        host.Api.Given(patch).InScenario("conflict").WhenStateIs("conflicted")
            .RespondWith(WireMock.ResponseBuilders.Response.Create().WithStatusCode(200).WithBody("{}"));

        var outcome = await OutcomeAsync(await host.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web"));

        var calls = host.Calls;
        Assert.Equal(5, calls.Count);
        AssertPatches(calls[2], name, "321", Uid, 3);
        Assert.Equal($"GET {ImagePath(Ns, name)}", calls[3].Line);
        var retried = AssertPatches(calls[4], name, "322", Uid, 3);
        Assert.Equal("web-sa", (string?)retried["spec"]!["serviceAccountName"]);
        Assert.Equal("reconciled", (string?)outcome["result"]);
        Assert.Equal(1, (int?)outcome["updated"]);
    }

    [Fact]
    public async Task Reconcile_writes_only_the_new_image_when_one_is_added()
    {
        using var host = Start();
        var before = Deployment("web", Uid, 2, ["nginx:1.25"]);
        var after = Deployment("web", Uid, 3, ["nginx:1.25", "redis:7"]);
        host.StubGetWorkload("apps/v1", "deployments", Ns, "web", after);
        host.StubListImages(Ns, ImageOf(before, "nginx:1.25", "img-1", "40"));
        host.StubCreate(Ns);
        host.StubPatch(Ns, ExpectedNames.Image("web", Uid, "nginx:1.25"));

        var outcome = await OutcomeAsync(await host.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web"));

        // The created Image carries generation 3, which is all the stale guard needs: nginx is not rewritten.
        var write = Assert.Single(host.Writes);
        AssertCreates(write, after, "redis:7");
        Assert.Equal((1, 0, 1), ((int?)outcome["created"], (int?)outcome["updated"], (int?)outcome["unchanged"]));
    }

    [Fact]
    public async Task Reconcile_relabels_one_kept_image_when_it_only_deleted()
    {
        using var host = Start();
        var before = Deployment("web", Uid, 2, ["nginx:1.25", "redis:7"]);
        var after = Deployment("web", Uid, 3, ["nginx:1.25"]);
        var nginx = ExpectedNames.Image("web", Uid, "nginx:1.25");
        var redis = ExpectedNames.Image("web", Uid, "redis:7");
        host.StubGetWorkload("apps/v1", "deployments", Ns, "web", after);
        host.StubListImages(Ns, ImageOf(before, "nginx:1.25", "img-1", "40"), ImageOf(before, "redis:7", "img-2", "41"));
        host.StubDelete(Ns, redis);
        host.StubPatch(Ns, nginx);

        var outcome = await OutcomeAsync(await host.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web"));

        var writes = host.Writes;
        Assert.Equal(2, writes.Count);
        Assert.Equal(AppHost.ImagePath(Ns, redis), Assert.Single(writes, c => c.Method == "DELETE").Path);
        // Only the labels: without it no Image would carry generation 3 and a stale generation-2 event would pass.
        var relabel = AssertPatches(Assert.Single(writes, c => c.Method == "PATCH"), nginx, "40", Uid, 3);
        Assert.Null(relabel["spec"]);
        Assert.Equal((1, 1), ((int?)outcome["deleted"], (int?)outcome["updated"]));
    }

    [Fact]
    public async Task Reconcile_does_not_relabel_when_nothing_else_changed()
    {
        using var host = Start();
        var before = Deployment("web", Uid, 2, ["nginx:1.25"]);
        var after = Deployment("web", Uid, 3, ["nginx:1.25"]);
        host.StubGetWorkload("apps/v1", "deployments", Ns, "web", after);
        host.StubListImages(Ns, ImageOf(before, "nginx:1.25", "img-1", "40"));
        host.StubPatch(Ns, ExpectedNames.Image("web", Uid, "nginx:1.25"));

        var outcome = await OutcomeAsync(await host.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web"));

        Assert.Empty(host.Writes);
        Assert.Equal("reconciled", (string?)outcome["result"]);
        Assert.Equal(1, (int?)outcome["unchanged"]);
    }

    [Fact]
    public async Task Reconcile_deletes_images_no_longer_desired()
    {
        using var host = Start();
        var web = Deployment("web", Uid, 2, ["nginx:1.25"]);
        var surplusName = ExpectedNames.Image("web", Uid, "redis:7");
        host.StubGetWorkload("apps/v1", "deployments", Ns, "web", web);
        host.StubListImages(Ns, ImageOf(web, "nginx:1.25", "img-keep"), ImageOf(web, "redis:7", "img-surplus", "55"));
        host.StubDelete(Ns, surplusName);

        var outcome = await OutcomeAsync(await host.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web"));

        Assert.Equal(3, host.Calls.Count);
        AssertDeletes(Assert.Single(host.Writes), surplusName, "img-surplus", "55");
        Assert.Equal(1, (int?)outcome["deleted"]);
        Assert.Equal(1, (int?)outcome["unchanged"]);
    }

    [Fact]
    public async Task Reconcile_treats_404_on_delete_as_done()
    {
        using var host = Start();
        var web = Deployment("web", Uid, 2, ["nginx:1.25"]);
        var surplusName = ExpectedNames.Image("web", Uid, "redis:7");
        host.StubGetWorkload("apps/v1", "deployments", Ns, "web", web);
        host.StubListImages(Ns, ImageOf(web, "nginx:1.25", "img-keep"), ImageOf(web, "redis:7", "img-surplus", "55"));
        host.StubDelete(Ns, surplusName, 404);

        var outcome = await OutcomeAsync(await host.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web"));

        Assert.Equal("reconciled", (string?)outcome["result"]);
        AssertDeletes(Assert.Single(host.Writes), surplusName, "img-surplus", "55");
    }

    [Fact]
    public async Task Reconcile_retries_a_delete_with_the_fresh_resource_version_after_409_conflict()
    {
        using var host = Start();
        var web = Deployment("web", Uid, 2, ["nginx:1.25"]);
        var surplusName = ExpectedNames.Image("web", Uid, "redis:7");
        host.StubGetWorkload("apps/v1", "deployments", Ns, "web", web);
        host.StubListImages(Ns, ImageOf(web, "nginx:1.25", "img-keep"), ImageOf(web, "redis:7", "img-surplus", "55"));
        host.StubGetImage(Ns, surplusName, ImageOf(web, "redis:7", "img-surplus", "56"));
        var delete = WireMock.RequestBuilders.Request.Create().WithPath(ImagePath(Ns, surplusName)).UsingDelete();
        host.Api.Given(delete).InScenario("conflict").WillSetStateTo("conflicted")
            .RespondWith(WireMock.ResponseBuilders.Response.Create().WithStatusCode(409).WithHeader("Content-Type", "application/json").WithBody(Status(409, "Conflict").ToJsonString()));
        host.Api.Given(delete).InScenario("conflict").WhenStateIs("conflicted")
            .RespondWith(WireMock.ResponseBuilders.Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json").WithBody(Status(200, "Success").ToJsonString()));

        var outcome = await OutcomeAsync(await host.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web"));

        var calls = host.Calls;
        Assert.Equal(5, calls.Count);
        AssertDeletes(calls[2], surplusName, "img-surplus", "55");
        Assert.Equal($"GET {ImagePath(Ns, surplusName)}", calls[3].Line);
        AssertDeletes(calls[4], surplusName, "img-surplus", "56");
        Assert.Equal(1, (int?)outcome["deleted"]);
    }

    [Fact]
    public async Task Reconcile_delete_retried_after_409_stops_when_the_fresh_read_shows_a_newer_generation()
    {
        using var host = Start();
        var web = Deployment("web", Uid, 2, ["nginx:1.25"]);
        var surplusName = ExpectedNames.Image("web", Uid, "redis:7");
        host.StubGetWorkload("apps/v1", "deployments", Ns, "web", web);
        host.StubListImages(Ns, ImageOf(web, "nginx:1.25", "img-keep"), ImageOf(web, "redis:7", "img-surplus", "55"));
        // Meanwhile generation 3 of the workload wrote the Image: the stale guard on the fresh read says this pass must stop.
        host.StubGetImage(Ns, surplusName, ImageOf(web, "redis:7", "img-surplus", "56", labelGeneration: 3));
        host.StubDelete(Ns, surplusName, 409);

        var outcome = await OutcomeAsync(await host.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web"));

        var calls = host.Calls;
        Assert.Equal(4, calls.Count);
        AssertDeletes(calls[2], surplusName, "img-surplus", "55");
        Assert.Equal($"GET {ImagePath(Ns, surplusName)}", calls[3].Line);
        Assert.Equal(0, (int?)outcome["deleted"]);
    }

    [Fact]
    public async Task Reconcile_lists_again_when_an_update_answers_404_and_applies_the_fresh_difference()
    {
        using var host = Start();
        var before = Deployment("web", Uid, 2, ["nginx:1.25"]);
        var after = Deployment("web", Uid, 3, ["nginx:1.25"], serviceAccount: "web-sa");
        var name = ExpectedNames.Image("web", Uid, "nginx:1.25");
        host.StubGetWorkload("apps/v1", "deployments", Ns, "web", after);
        var list = WireMock.RequestBuilders.Request.Create().WithPath(ImagesPath(Ns)).UsingGet();
        host.Api.Given(list).InScenario("vanish").WillSetStateTo("listed")
            .RespondWith(WireMock.ResponseBuilders.Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json")
                .WithBody(ImageList(null, [ImageOf(before, "nginx:1.25", "img-1", "321")]).ToJsonString()));
        host.Api.Given(WireMock.RequestBuilders.Request.Create().WithPath(ImagePath(Ns, name)).UsingPatch()).InScenario("vanish").WhenStateIs("listed")
            .WillSetStateTo("gone")
            .RespondWith(WireMock.ResponseBuilders.Response.Create().WithStatusCode(404).WithHeader("Content-Type", "application/json").WithBody(Status(404, "NotFound").ToJsonString()));
        host.Api.Given(list).InScenario("vanish").WhenStateIs("gone")
            .RespondWith(WireMock.ResponseBuilders.Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json").WithBody(ImageList(null, []).ToJsonString()));
        host.StubCreate(Ns);

        var outcome = await OutcomeAsync(await host.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web"));

        var calls = host.Calls;
        Assert.Equal([$"GET {DeploymentPath}", $"GET {ImagesPath(Ns)}{ControllerQuery(Uid)}", $"PATCH {ImagePath(Ns, name)}",
            $"GET {ImagesPath(Ns)}{ControllerQuery(Uid)}", $"POST {ImagesPath(Ns)}"], calls.Select(c => c.Line));
        AssertCreates(calls[4], after, "nginx:1.25", serviceAccount: "web-sa");
        Assert.Equal("reconciled", (string?)outcome["result"]);
        Assert.Equal(1, (int?)outcome["created"]);
        Assert.Equal(0, (int?)outcome["updated"]);
    }

    [Fact]
    public async Task Reconcile_updates_an_image_of_its_own_that_carries_another_image()
    {
        using var host = Start();
        var web = Deployment("web", Uid, 2, ["nginx:1.25"]);
        var name = ExpectedNames.Image("web", Uid, "nginx:1.25");
        // Our name, labels and owner, but spec.image edited by hand.
        var edited = Image(name, "img-1", "40", "nginx:1.24", OurLabels(Uid, 2), Owner(web));
        host.StubGetWorkload("apps/v1", "deployments", Ns, "web", web);
        host.StubListImages(Ns, edited);
        host.StubPatch(Ns, name);

        var outcome = await OutcomeAsync(await host.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web"));

        var patch = AssertPatches(Assert.Single(host.Writes), name, "40", Uid, 2);
        Assert.Equal("nginx:1.25", (string?)patch["spec"]!["image"]);
        Assert.Equal("reconciled", (string?)outcome["result"]);
        Assert.Equal(1, (int?)outcome["updated"]);
        Assert.Equal(0, (int?)outcome["deleted"]);
    }

    [Fact]
    public async Task Reconcile_updates_an_image_of_its_own_with_another_image_found_when_create_answers_409()
    {
        using var host = Start();
        var web = Deployment("web", Uid, 2, ["nginx:1.25"]);
        var name = ExpectedNames.Image("web", Uid, "nginx:1.25");
        host.StubGetWorkload("apps/v1", "deployments", Ns, "web", web);
        host.StubListImages(Ns);
        host.StubCreate(Ns, 409);
        // Not listed (its controller label was removed), but our owner reference and our name, with another image.
        host.StubGetImage(Ns, name, Image(name, "img-1", "41", "nginx:1.24", new Dictionary<string, string>(), Owner(web)));
        host.StubPatch(Ns, name);

        var outcome = await OutcomeAsync(await host.SendRefAsync("add", "apps/v1", "Deployment", Ns, "web"));

        Assert.Equal(["POST", "PATCH"], host.Writes.Select(c => c.Method));
        var patch = AssertPatches(host.Writes[1], name, "41", Uid, 2);
        Assert.Equal("nginx:1.25", (string?)patch["spec"]!["image"]);
        Assert.Equal("reconciled", (string?)outcome["result"]);
        Assert.Equal(1, (int?)outcome["updated"]);
    }

    [Fact]
    public async Task Concurrent_events_for_one_workload_are_serialised()
    {
        using var host = Start();
        var web = Deployment("web", Uid, 1, ["nginx:1.25"]);
        // A slow GET keeps the first reconcile in flight while the second event arrives; the LIST never shows the
        // Image, so only serialisation (and then the memo) keeps the second event from creating it again.
        host.Stub("GET", DeploymentPath, 200, web, delay: TimeSpan.FromMilliseconds(300));
        host.StubListImages(Ns);
        host.StubCreate(Ns);

        var responses = await Task.WhenAll(
            host.SendRefAsync("add", "apps/v1", "Deployment", Ns, "web"),
            host.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web"));

        foreach (var response in responses)
        {
            await OutcomeAsync(response);
        }

        Assert.Equal([$"GET {DeploymentPath}", $"GET {ImagesPath(Ns)}{ControllerQuery(Uid)}", $"POST {ImagesPath(Ns)}", $"GET {DeploymentPath}"], host.Lines);
    }

    [Fact]
    public async Task Reconcile_keeps_one_of_the_duplicates_left_by_cachier_adopts_it_and_deletes_the_rest()
    {
        using var host = Start();
        var web = Deployment("web", Uid, 2, ["nginx:1.25"]);
        // The original cachier: generateName "web-", only the controller label, a controller ownerReference.
        var legacyLabels = new Dictionary<string, string> { ["controller"] = Uid };
        host.StubGetWorkload("apps/v1", "deployments", Ns, "web", web);
        host.StubListImages(Ns,
            Image("web-x7k2p", "img-a", "11", "nginx:1.25", legacyLabels, Owner(web)),
            Image("web-9qzrt", "img-b", "12", "nginx:1.25", legacyLabels, Owner(web)));
        host.StubDelete(Ns, "web-x7k2p");
        host.StubDelete(Ns, "web-9qzrt");
        host.StubPatch(Ns, "web-x7k2p");
        host.StubPatch(Ns, "web-9qzrt");
        host.StubCreate(Ns);

        var outcome = await OutcomeAsync(await host.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web"));

        var writes = host.Writes;
        Assert.DoesNotContain(writes, c => c.Method is "POST" or "PUT");
        var delete = Assert.Single(writes, c => c.Method == "DELETE");
        var patch = Assert.Single(writes, c => c.Method == "PATCH");
        Assert.Equal(2, writes.Count);
        var (deleted, kept) = delete.Path.EndsWith("/web-x7k2p", StringComparison.Ordinal)
            ? (("web-x7k2p", "img-a", "11"), ("web-9qzrt", "img-b", "12"))
            : (("web-9qzrt", "img-b", "12"), ("web-x7k2p", "img-a", "11"));
        AssertDeletes(delete, deleted.Item1, deleted.Item2, deleted.Item3);
        // Adopted: relabelled with Cachier's labels (managed-by, generation), guarded by its resourceVersion.
        AssertPatches(patch, kept.Item1, kept.Item3, Uid, 2);
        Assert.Equal("reconciled", (string?)outcome["result"]);
        Assert.Equal(0, (int?)outcome["created"]);
        Assert.Equal(1, (int?)outcome["deleted"]);
    }

    [Fact]
    public async Task Reconcile_counts_an_image_of_its_own_as_present_when_create_answers_409()
    {
        using var host = Start();
        var web = Deployment("web", Uid, 2, ["nginx:1.25"]);
        var name = ExpectedNames.Image("web", Uid, "nginx:1.25");
        host.StubGetWorkload("apps/v1", "deployments", Ns, "web", web);
        host.StubListImages(Ns);
        host.StubCreate(Ns, 409);
        host.StubGetImage(Ns, name, ImageOf(web, "nginx:1.25", "img-1"));

        var outcome = await OutcomeAsync(await host.SendRefAsync("add", "apps/v1", "Deployment", Ns, "web"));

        var calls = host.Calls;
        Assert.Equal(4, calls.Count);
        AssertCreates(calls[2], web, "nginx:1.25");
        Assert.Equal($"GET {ImagePath(Ns, name)}", calls[3].Line);
        Assert.Equal("reconciled", (string?)outcome["result"]);
        Assert.Equal(0, (int?)outcome["created"]);
        Assert.Equal(1, (int?)outcome["unchanged"]);
    }

    [Fact]
    public async Task Reconcile_never_overwrites_an_image_of_another_owner_when_create_answers_409()
    {
        using var host = Start();
        const string Stranger = "0f0f0f0f-1111-2222-3333-444444444444";
        var web = Deployment("web", Uid, 2, ["nginx:1.25"]);
        var name = ExpectedNames.Image("web", Uid, "nginx:1.25");
        host.StubGetWorkload("apps/v1", "deployments", Ns, "web", web);
        host.StubListImages(Ns);
        host.StubCreate(Ns, 409);
        host.StubGetImage(Ns, name, Image(name, "img-x", "9", "nginx:1.25", OurLabels(Stranger, 1),
            ControllerRef("apps/v1", "StatefulSet", "other", Stranger), serviceAccount: "other-sa"));
        host.StubPatch(Ns, name);

        var outcome = await OutcomeAsync(await host.SendRefAsync("add", "apps/v1", "Deployment", Ns, "web"));

        Assert.Equal(["POST"], host.Writes.Select(c => c.Method));
        Assert.Equal($"GET {ImagePath(Ns, name)}", host.Calls[^1].Line);
        Assert.Equal("not-owned", (string?)outcome["result"]);
        Assert.Equal(["nginx:1.25"], outcome["notOwned"]!.AsArray().Select(i => (string?)i));
    }

    [Fact]
    public async Task Reconcile_skips_a_stale_event_without_writes()
    {
        using var host = Start();
        var sample02 = JsonNode.Parse(Sample("02-resource-update.data.json"))!.AsObject();
        host.StubGetWorkload("apps/v1", "deployments", Ns, "dummy", sample02);
        host.StubListImages(Ns, OurImage(sample02, "ubuntu", "img-1", "800", labelGeneration: 5));
        host.StubCreate(Ns);

        var outcome = await OutcomeAsync(await host.SendResourceAsync("update", sample02));

        Assert.Equal([$"GET {WorkloadPath("apps/v1", "deployments", Ns, "dummy")}", $"GET {ImagesPath(Ns)}{ControllerQuery(SampleUid)}"], host.Lines);
        Assert.Equal("stale", (string?)outcome["result"]);
    }

    [Theory]
    [InlineData("false")]
    [InlineData("OFF")]
    [InlineData("Disabled")]
    public async Task Reconcile_deletes_images_when_workload_opts_out(string decorate)
    {
        using var host = Start();
        var before = Deployment("web", Uid, 2, ["nginx:1.25", "redis:7"]);
        var after = Deployment("web", Uid, 3, ["nginx:1.25", "redis:7"], decorate: decorate);
        host.StubGetWorkload("apps/v1", "deployments", Ns, "web", after);
        host.StubListImages(Ns, ImageOf(before, "nginx:1.25", "img-1", "31"), ImageOf(before, "redis:7", "img-2", "32"));
        host.StubDelete(Ns, ExpectedNames.Image("web", Uid, "nginx:1.25"));
        host.StubDelete(Ns, ExpectedNames.Image("web", Uid, "redis:7"));

        var outcome = await OutcomeAsync(await host.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web"));

        Assert.Equal([$"GET {DeploymentPath}", $"GET {ImagesPath(Ns)}{ControllerQuery(Uid)}"], host.Calls.Take(2).Select(c => c.Line));
        var deletes = host.Writes.OrderBy(c => c.Path, StringComparer.Ordinal).ToList();
        Assert.Equal(2, deletes.Count);
        var expected = new[] { (ExpectedNames.Image("web", Uid, "nginx:1.25"), "img-1", "31"), (ExpectedNames.Image("web", Uid, "redis:7"), "img-2", "32") }
            .OrderBy(e => ImagePath(Ns, e.Item1), StringComparer.Ordinal).ToList();
        AssertDeletes(deletes[0], expected[0].Item1, expected[0].Item2, expected[0].Item3);
        AssertDeletes(deletes[1], expected[1].Item1, expected[1].Item2, expected[1].Item3);
        Assert.Equal("disabled", (string?)outcome["result"]);
        Assert.Equal(2, (int?)outcome["deleted"]);
    }

    [Fact]
    public async Task Reconcile_leaves_a_controlled_object_to_its_controller_and_deletes_its_images()
    {
        using var host = Start();
        const string RsUid = "77777777-aaaa-bbbb-cccc-dddddddddddd";
        var rs = Workload("apps/v1", "ReplicaSet", "web-5d8f7", RsUid, 1, ["nginx:1.25"],
            controlledBy: ControllerRef("apps/v1", "Deployment", "web", Uid));
        var uncontrolled = Workload("apps/v1", "ReplicaSet", "web-5d8f7", RsUid, 1, ["nginx:1.25"]);
        var imageName = ExpectedNames.Image("web-5d8f7", RsUid, "nginx:1.25");
        host.StubGetWorkload("apps/v1", "replicasets", Ns, "web-5d8f7", rs);
        host.StubListImages(Ns, OurImage(uncontrolled, "nginx:1.25", "img-rs", "61"));
        host.StubDelete(Ns, imageName);
        host.StubCreate(Ns);

        var outcome = await OutcomeAsync(await host.SendRefAsync("update", "apps/v1", "ReplicaSet", Ns, "web-5d8f7"));

        Assert.Equal([$"GET {WorkloadPath("apps/v1", "replicasets", Ns, "web-5d8f7")}", $"GET {ImagesPath(Ns)}{ControllerQuery(RsUid)}"],
            host.Calls.Take(2).Select(c => c.Line));
        AssertDeletes(Assert.Single(host.Writes), imageName, "img-rs", "61");
        Assert.Equal("disabled", (string?)outcome["result"]);
    }

    [Fact]
    public async Task Reconcile_caches_a_controlled_object_that_opts_in()
    {
        using var host = Start();
        const string RsUid = "77777777-aaaa-bbbb-cccc-dddddddddddd";
        var rs = Workload("apps/v1", "ReplicaSet", "web-5d8f7", RsUid, 1, ["nginx:1.25"], decorate: "Enabled",
            controlledBy: ControllerRef("apps/v1", "Deployment", "web", Uid));
        host.StubGetWorkload("apps/v1", "replicasets", Ns, "web-5d8f7", rs);
        host.StubListImages(Ns);
        host.StubCreate(Ns);

        var outcome = await OutcomeAsync(await host.SendRefAsync("add", "apps/v1", "ReplicaSet", Ns, "web-5d8f7"));

        AssertCreates(Assert.Single(host.Writes), rs, "nginx:1.25");
        Assert.Equal("reconciled", (string?)outcome["result"]);
    }

    [Fact]
    public async Task Reconcile_reports_gone_without_listing_when_the_workload_is_not_found()
    {
        using var host = Start();
        host.StubGetWorkloadStatus("apps/v1", "deployments", Ns, "web", 404);

        var outcome = await OutcomeAsync(await host.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web"));

        Assert.Equal([$"GET {DeploymentPath}"], host.Lines);
        Assert.Equal("gone", (string?)outcome["result"]);
    }

    [Fact]
    public async Task Events_for_a_kind_that_is_not_watched_by_default_are_ignored_without_any_api_call()
    {
        using var host = Start();

        var byRef = await OutcomeAsync(await host.SendRefAsync("update", "v1", "Secret", Ns, "db-password"));
        var secret = new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Secret",
            ["metadata"] = new JsonObject { ["name"] = "db-password", ["namespace"] = Ns, ["uid"] = "s-1" },
            ["data"] = new JsonObject { ["password"] = "aHVudGVyMg==" },
        };
        var byResource = await OutcomeAsync(await host.SendResourceAsync("add", secret));

        Assert.Empty(host.Calls);
        Assert.Equal("ignored", (string?)byRef["result"]);
        Assert.Equal("ignored", (string?)byResource["result"]);
    }

    [Fact]
    public async Task Events_for_a_kind_left_out_of_the_configured_resources_are_ignored_without_any_api_call()
    {
        using var host = Start(("Resources", "StatefulSet.v1.apps"));

        var byRef = await OutcomeAsync(await host.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web"));
        var byResource = await OutcomeAsync(await host.SendResourceAsync("add", Deployment("web", Uid, 1, ["nginx:1.25"])));

        Assert.Empty(host.Calls);
        Assert.Equal("ignored", (string?)byRef["result"]);
        Assert.Equal("ignored", (string?)byResource["result"]);
    }

    [Fact]
    public async Task Delete_events_are_answered_without_any_api_call()
    {
        using var host = Start();

        var viaBroker = await OutcomeAsync(await host.SendStructuredAsync(Sample("04-ref-delete.via-broker.structured.json")));
        var binary = await OutcomeAsync(await host.SendSampleBinaryAsync("04-ref-delete.via-broker.structured.json", "04-ref-delete.data.json"));
        var resource = await OutcomeAsync(await host.SendResourceAsync("delete", Deployment("web", Uid, 2, ["nginx:1.25"])));

        Assert.Empty(host.Calls);
        Assert.Equal("deleted", (string?)viaBroker["result"]);
        Assert.Equal("deleted", (string?)binary["result"]);
        Assert.Equal("deleted", (string?)resource["result"]);
    }
}
