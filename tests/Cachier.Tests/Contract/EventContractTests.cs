using System.Net;
using System.Text.Json.Nodes;
using Cachier.Reconcile;
using Microsoft.Extensions.DependencyInjection;
using static Cachier.Tests.Support.AppHost;
using static Cachier.Tests.Support.CloudEvents;
using static Cachier.Tests.Support.Objects;

namespace Cachier.Tests.Contract;

/// <summary>
/// Issue 15 part 4: Kubernetes Events on the workload when Cachier changed Images or could not; none on a no-op; a
/// repeat PATCHes the Event already written (count, lastTimestamp) as client-go's EventCorrelator does. The app runs
/// with its real recorder against the fake API server; the Event calls are compared exactly.
/// </summary>
public sealed class EventContractTests
{
    private const string Uid = "5b1c7f3e-2d4a-4c8b-9e6f-0a1b2c3d4e5f";
    private const string Stranger = "0f0f0f0f-1111-2222-3333-444444444444";
    private const string EventsPath = $"/api/v1/namespaces/{Ns}/events";

    private static void StubEvents(AppHost host, int postStatus = 201)
    {
        host.Stub("POST", EventsPath, postStatus, postStatus == 201 ? new JsonObject { ["kind"] = "Event" } : Status(postStatus));
        host.Api.Given(Request.Create().WithPath(new WildcardMatcher($"{EventsPath}/*")).UsingPatch()).AtPriority(10)
            .RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json").WithBody("""{"kind":"Event"}"""));
    }

    [Fact]
    public async Task Created_and_not_owned_images_are_told_on_the_workload_and_a_repeat_patches_the_same_events()
    {
        using var host = StartWithEvents();
        var web = Deployment("web", Uid, 2, ["new:1", "taken:1"]);
        var taken = ExpectedNames.Image("web", Uid, "taken:1");
        host.StubGetWorkload("apps/v1", "deployments", Ns, "web", web);
        host.StubListImages(Ns);
        host.StubCreate(Ns);
        // taken:1's name is held by another owner's Image: its create answers 409 and the re-read shows the stranger.
        host.Stub("POST", ImagesPath(Ns), 409, Status(409), priority: 5);
        host.Api.Given(Request.Create().WithPath(ImagesPath(Ns)).UsingPost().WithBody(new WildcardMatcher("*\"new:1\"*"))).AtPriority(1)
            .RespondWith(Response.Create().WithStatusCode(201).WithHeader("Content-Type", "application/json").WithBody("{}"));
        host.StubGetImage(Ns, taken, Image(taken, "img-x", "9", "taken:1", OurLabels(Stranger, 1), ControllerRef("apps/v1", "StatefulSet", "other", Stranger)));
        StubEvents(host);

        // Not-owned is not remembered as applied: the second event does the same again and is told the same again.
        var first = await OutcomeAsync(await host.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web"));
        await host.FlushEventsAsync();
        await host.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web");
        await host.FlushEventsAsync();

        Assert.Equal("not-owned", (string?)first["result"]);
        Assert.Equal(1, (int?)first["created"]);
        var calls = host.EventCalls;
        Assert.Equal(["POST " + EventsPath, "POST " + EventsPath], calls.Take(2).Select(c => c.Line));
        Assert.Equal(4, calls.Count);
        var created = calls[0].Json;
        var names = new[] { (string)created["metadata"]!["name"]!, (string)calls[1].Json["metadata"]!["name"]! };
        Assert.Equal([$"PATCH {EventsPath}/{names[0]}", $"PATCH {EventsPath}/{names[1]}"], calls.Skip(2).Select(c => c.Line));

        Assert.StartsWith("web.", names[0], StringComparison.Ordinal);
        Assert.Equal("v1", (string?)created["apiVersion"]);
        Assert.Equal("Event", (string?)created["kind"]);
        Assert.Equal(Ns, (string?)created["metadata"]!["namespace"]);
        Assert.True(JsonNode.DeepEquals(new JsonObject
        {
            ["apiVersion"] = "apps/v1",
            ["kind"] = "Deployment",
            ["namespace"] = Ns,
            ["name"] = "web",
            ["uid"] = Uid,
        }, created["involvedObject"]), created["involvedObject"]!.ToJsonString());
        Assert.Equal(("Normal", "ImagesCreated", "Created 1 Image to cache this workload's container images"),
            ((string?)created["type"], (string?)created["reason"], (string?)created["message"]));
        Assert.Equal(1, (int?)created["count"]);
        Assert.Equal("cachier", (string?)created["source"]!["component"]);
        Assert.Equal((string?)created["firstTimestamp"], (string?)created["lastTimestamp"]);
        Assert.Matches("^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ$", (string?)created["firstTimestamp"]);

        var notOwned = calls[1].Json;
        Assert.Equal(("Warning", "ImagesNotOwned"), ((string?)notOwned["type"], (string?)notOwned["reason"]));
        Assert.Contains("taken:1", (string?)notOwned["message"], StringComparison.Ordinal);

        // The aggregation: one more occurrence, nothing else changed.
        var patch = calls[2];
        Assert.Equal("application/merge-patch+json", patch.ContentType);
        Assert.Equal(["count", "lastTimestamp"], patch.Json.Select(p => p.Key).Order());
        Assert.Equal(2, (int?)patch.Json["count"]);
    }

    [Fact]
    public async Task While_a_resync_holds_the_recorder_notes_wait_and_are_written_when_it_is_done()
    {
        using var host = StartWithEvents();
        var web = Deployment("web", Uid, 2, ["nginx:1.25"]);
        host.StubGetWorkload("apps/v1", "deployments", Ns, "web", web);
        host.StubListImages(Ns);
        host.StubCreate(Ns);
        StubEvents(host);
        var recorder = host.Services.GetRequiredService<IEventRecorder>();

        var held = recorder.Hold();
        var outcome = await OutcomeAsync(await host.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web"));
        // The flush queues behind the note: while the hold stands it cannot complete (2 s is only the bound of waiting for that).
        var flushed = host.FlushEventsAsync();
        var whileHeld = await Task.WhenAny(flushed, Task.Delay(TimeSpan.FromSeconds(2)));
        var callsWhileHeld = host.EventCalls.Count;
        held.Dispose();
        await flushed;

        Assert.Equal(1, (int?)outcome["created"]);
        Assert.NotSame(flushed, whileHeld);
        Assert.Equal(0, callsWhileHeld);
        Assert.Equal(["POST " + EventsPath], host.EventCalls.Select(c => c.Line));
    }

    [Fact]
    public async Task A_no_op_writes_no_event()
    {
        using var host = StartWithEvents();
        var web = Deployment("web", Uid, 2, ["nginx:1.25"]);
        host.StubGetWorkload("apps/v1", "deployments", Ns, "web", web);
        host.StubListImages(Ns, OurImage(web, "nginx:1.25", "img-1", "5"));
        StubEvents(host);

        var outcome = await OutcomeAsync(await host.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web"));
        await host.FlushEventsAsync();

        Assert.Equal("reconciled", (string?)outcome["result"]);
        Assert.Equal([$"GET {WorkloadPath("apps/v1", "deployments", Ns, "web")}", $"GET {ImagesPath(Ns)}{ControllerQuery(Uid)}"], host.Lines);
    }

    [Fact]
    public async Task A_forbidden_write_is_told_as_a_warning()
    {
        using var host = Start();
        host.StubGetWorkload("apps/v1", "deployments", Ns, "web", Deployment("web", Uid, 2, ["nginx:1.25"]));
        host.StubListImages(Ns);
        host.StubCreate(Ns, 403);

        // A permanent failure: 500, so that a direct ApiServerSource sink does not redeliver it.
        var outcome = await OutcomeAsync(await host.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web"), HttpStatusCode.InternalServerError);

        Assert.Equal("failed", (string?)outcome["result"]);
        var (subject, note) = Assert.Single(host.Notes.All);
        Assert.Equal(Uid, subject.Uid);
        Assert.Equal((WorkloadNote.Warning, "ImagesForbidden"), (note.Type, note.Reason));
        Assert.Contains("403", note.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_event_the_api_server_refuses_changes_nothing_of_the_reconcile_and_is_not_retried_beyond_the_bound()
    {
        using var host = StartWithEvents(("ApiRetries", "1"));
        host.StubGetWorkload("apps/v1", "deployments", Ns, "web", Deployment("web", Uid, 2, ["nginx:1.25"]));
        host.StubListImages(Ns);
        host.StubCreate(Ns);
        StubEvents(host, postStatus: 500);

        var outcome = await OutcomeAsync(await host.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web"));
        await host.FlushEventsAsync();

        Assert.Equal("reconciled", (string?)outcome["result"]);
        Assert.Equal(1, (int?)outcome["created"]);
        // The API client's one bounded retry of a 5xx, then the note is given up.
        Assert.Equal(2, host.EventCalls.Count);
    }
}
