using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using static Cachier.Tests.Support.AppHost;
using static Cachier.Tests.Support.CloudEvents;
using static Cachier.Tests.Support.Objects;

namespace Cachier.Tests.Contract;

/// <summary>
/// SPEC section 5.7: with the desired-state memo a status-only update costs one GET in Reference mode and nothing in
/// Resource mode; only a successful reconcile is remembered.
/// </summary>
public sealed class PlanMemoContractTests
{
    private const string Uid = "5b1c7f3e-2d4a-4c8b-9e6f-0a1b2c3d4e5f";
    private const string SampleUid = "a792cd10-ca9d-11e8-b5eb-42010af000a3";

    [Fact]
    public async Task Same_resource_event_twice_makes_no_api_call_the_second_time_when_embedded_objects_are_trusted()
    {
        using var host = StartTrusting();
        host.StubGetWorkload("apps/v1", "deployments", Ns, "dummy", JsonNode.Parse(Sample("01-resource-add.data.json"))!);
        host.StubListImages(Ns);
        host.StubCreate(Ns);
        await OutcomeAsync(await host.SendStructuredAsync(Sample("01-resource-add.structured.json")));
        // LIST, the GET that confirms a generation never applied before, the create.
        Assert.Equal(3, host.Calls.Count);
        host.Api.ResetLogEntries();

        // Redelivered with a fresh id (the id is no de-duplication key): the same object plans the same.
        var again = JsonNode.Parse(Sample("01-resource-add.structured.json"))!.AsObject();
        again["id"] = Guid.NewGuid().ToString();
        again["type"] = "dev.knative.apiserver.resource.update";
        var outcome = await OutcomeAsync(await host.SendStructuredAsync(again.ToJsonString()));

        Assert.Empty(host.Calls);
        Assert.Equal("reconciled", (string?)outcome["result"]);
    }

    [Fact]
    public async Task Reference_status_only_update_costs_one_get_the_second_time()
    {
        using var host = Start();
        var web = Deployment("web", Uid, 2, ["nginx:1.25"]);
        host.StubGetWorkload("apps/v1", "deployments", Ns, "web", web);
        host.StubListImages(Ns, OurImage(web, "nginx:1.25", "img-1", "10"));
        await OutcomeAsync(await host.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web"));
        Assert.Equal(2, host.Calls.Count);
        host.Api.ResetLogEntries();

        var statusOnly = web.DeepClone().AsObject();
        statusOnly["metadata"]!["resourceVersion"] = "4712";
        statusOnly["status"] = new JsonObject { ["observedGeneration"] = 2, ["replicas"] = 1, ["readyReplicas"] = 1 };
        host.Api.ResetMappings();
        host.StubGetWorkload("apps/v1", "deployments", Ns, "web", statusOnly);
        var outcome = await OutcomeAsync(await host.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web"));

        Assert.Equal([$"GET {WorkloadPath("apps/v1", "deployments", Ns, "web")}"], host.Lines);
        Assert.Equal("reconciled", (string?)outcome["result"]);
    }

    [Fact]
    public async Task Memo_does_not_hide_a_changed_workload()
    {
        using var host = Start();
        var web = Deployment("web", Uid, 2, ["nginx:1.25"]);
        host.StubGetWorkload("apps/v1", "deployments", Ns, "web", web);
        host.StubListImages(Ns, OurImage(web, "nginx:1.25", "img-1", "10"));
        await OutcomeAsync(await host.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web"));
        host.Api.ResetLogEntries();

        var changed = Deployment("web", Uid, 3, ["nginx:1.25"], serviceAccount: "web-sa");
        host.Api.ResetMappings();
        host.StubGetWorkload("apps/v1", "deployments", Ns, "web", changed);
        host.StubListImages(Ns, OurImage(web, "nginx:1.25", "img-1", "10"));
        host.StubPatch(Ns, ExpectedNames.Image("web", Uid, "nginx:1.25"));
        var outcome = await OutcomeAsync(await host.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web"));

        var patch = AssertPatches(Assert.Single(host.Writes), ExpectedNames.Image("web", Uid, "nginx:1.25"), "10", Uid, 3);
        Assert.Equal("web-sa", (string?)patch["spec"]!["serviceAccountName"]);
        Assert.Equal(1, (int?)outcome["updated"]);
    }

    [Fact]
    public async Task Memo_is_not_kept_after_a_failed_reconcile()
    {
        using var host = StartTrusting();
        host.StubListImagesStatus(Ns, 503);
        var failed = await host.SendStructuredAsync(Sample("01-resource-add.structured.json"));
        await OutcomeAsync(failed, HttpStatusCode.ServiceUnavailable);
        host.Api.ResetLogEntries();

        host.Api.ResetMappings();
        host.StubGetWorkload("apps/v1", "deployments", Ns, "dummy", JsonNode.Parse(Sample("01-resource-add.data.json"))!);
        host.StubListImages(Ns);
        host.StubCreate(Ns);
        var outcome = await OutcomeAsync(await host.SendStructuredAsync(Sample("01-resource-add.structured.json")));

        var calls = host.Calls;
        Assert.Equal(3, calls.Count);
        Assert.Equal($"GET {ImagesPath(Ns)}{ControllerQuery(SampleUid)}", calls[0].Line);
        AssertCreates(calls[2], JsonNode.Parse(Sample("01-resource-add.data.json"))!.AsObject(), "ubuntu");
        Assert.Equal(1, (int?)outcome["created"]);
    }

    [Fact]
    public async Task Memo_is_not_kept_after_a_failed_reference_reconcile()
    {
        using var host = Start();
        var web = Deployment("web", Uid, 2, ["nginx:1.25", "redis:7"]);
        host.StubGetWorkload("apps/v1", "deployments", Ns, "web", web);
        host.StubListImagesStatus(Ns, 503);
        await OutcomeAsync(await host.SendRefAsync("add", "apps/v1", "Deployment", Ns, "web"), HttpStatusCode.ServiceUnavailable);
        host.Api.ResetLogEntries();

        host.Api.ResetMappings();
        host.StubGetWorkload("apps/v1", "deployments", Ns, "web", web);
        host.StubListImages(Ns);
        host.StubCreate(Ns);
        var outcome = await OutcomeAsync(await host.SendRefAsync("add", "apps/v1", "Deployment", Ns, "web"));

        var calls = host.Calls;
        Assert.Equal(4, calls.Count);
        Assert.Equal($"GET {WorkloadPath("apps/v1", "deployments", Ns, "web")}", calls[0].Line);
        Assert.Equal($"GET {ImagesPath(Ns)}{ControllerQuery(Uid)}", calls[1].Line);
        Assert.Equal(["nginx:1.25", "redis:7"], calls.Skip(2).Select(c => (string?)c.Json["spec"]!["image"]).Order(StringComparer.Ordinal));
        Assert.Equal(2, (int?)outcome["created"]);
    }

    [Fact]
    public async Task Memo_entry_expires_so_an_image_deleted_by_hand_is_recreated_by_the_next_event()
    {
        var clock = new ManualClock();
        using var host = Start(null, web => web.ConfigureTestServices(s => s.AddSingleton<TimeProvider>(clock)), ("MemoTtl", "00:05:00"));
        var web = Deployment("web", Uid, 2, ["nginx:1.25"]);
        host.StubGetWorkload("apps/v1", "deployments", Ns, "web", web);
        host.StubListImages(Ns, OurImage(web, "nginx:1.25", "img-1", "10"));
        await OutcomeAsync(await host.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web"));

        // The Image is deleted behind Cachier's back; within the TTL the memo still answers for it.
        host.Api.ResetMappings();
        host.Api.ResetLogEntries();
        host.StubGetWorkload("apps/v1", "deployments", Ns, "web", web);
        host.StubListImages(Ns);
        host.StubCreate(Ns);
        clock.Advance(TimeSpan.FromMinutes(4));
        await OutcomeAsync(await host.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web"));
        Assert.Equal([$"GET {WorkloadPath("apps/v1", "deployments", Ns, "web")}"], host.Lines);

        host.Api.ResetLogEntries();
        clock.Advance(TimeSpan.FromMinutes(1));
        var outcome = await OutcomeAsync(await host.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web"));

        Assert.Equal([$"GET {WorkloadPath("apps/v1", "deployments", Ns, "web")}", $"GET {ImagesPath(Ns)}{ControllerQuery(Uid)}", $"POST {ImagesPath(Ns)}"], host.Lines);
        Assert.Equal(1, (int?)outcome["created"]);
    }
}
