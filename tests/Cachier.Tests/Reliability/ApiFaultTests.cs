using System.Diagnostics;
using System.Net;
using Cachier.Reconcile;
using Microsoft.Extensions.DependencyInjection;
using static Cachier.Tests.Support.Objects;

namespace Cachier.Tests.Reliability;

/// <summary>
/// Issue 8, faults: whatever the API server does wrong, the event is answered 503 with Retry-After (a direct
/// ApiServerSource sink retries 503, not 500, and gives up after about 1.5 s), the in-process retries are bounded and
/// fast, no memo entry survives a failed reconcile, and the redelivery finishes the job.
/// </summary>
public sealed class ApiFaultTests
{
    private const string Uid = "0f0e0d0c-0b0a-4909-8807-060504030201";
    private const int Retries = 2;

    /// <summary>What a sender allows for the whole retry sequence of a direct delivery.</summary>
    private static readonly TimeSpan SenderBudget = TimeSpan.FromSeconds(1.5);

    private static readonly string[] WebImages = ["img-a:1", "img-b:1", "img-c:1"];
    private static readonly string WebPath = FakeApi.DeploymentPath(Ns, "web");
    private static readonly string ListLine = $"GET {FakeApi.ImagesPath(Ns)}?labelSelector=controller%3D{Uid}";

    /// <summary>
    /// The in-process retry sequence, measured where the attempts arrive (first to last, plus the wait of the last one):
    /// what must fit the sender's budget, and unlike the wall clock of the whole request not skewed by a busy machine.
    /// </summary>
    private static void AssertRetriesFitTheBudget(IReadOnlyList<ApiRequest> attempts, TimeSpan lastWait = default)
    {
        var span = attempts.Count < 2 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(attempts[0].ArrivedTimestamp, attempts[^1].ArrivedTimestamp);
        Assert.True(span + lastWait < SenderBudget, $"{attempts.Count} attempts took {(span + lastWait).TotalMilliseconds:0} ms, over the sender's budget");
    }

    private static AppHost Start(string url, params (string Key, string Value)[] settings) =>
        Reliable(url, [("ApiRetries", Retries.ToString(System.Globalization.CultureInfo.InvariantCulture)), .. settings]);

    /// <summary>The app against <paramref name="url"/>; a minute for an answer (faults make some slow on purpose).</summary>
    public static AppHost Reliable(string url, params (string Key, string Value)[] settings) =>
        AppHost.Start(new AppOptions { ApiServerUrl = url, Settings = settings, ClientTimeout = TimeSpan.FromSeconds(60) });

    private static FakeApi WithWeb()
    {
        var api = new FakeApi();
        api.PutDeployment(Deployment("web", Uid, 3, WebImages));
        return api;
    }

    /// <summary>Where the failure hits: the workload GET, the Image LIST, or the first create.</summary>
    public static TheoryData<string, int> StagesAndStatuses()
    {
        var data = new TheoryData<string, int>();
        foreach (var stage in new[] { "get", "list", "create" })
        {
            foreach (var status in new[] { 500, 502, 503, 504, 429 })
            {
                data.Add(stage, status);
            }
        }

        return data;
    }

    /// <summary>
    /// Another writer changes Image <paramref name="name"/> just before each of the first <paramref name="times"/>
    /// <paramref name="method"/> requests, which the API server then answers 409; <paramref name="versions"/> gets
    /// the resourceVersion each change left.
    /// </summary>
    private static Func<ApiRequest, Fault?> ConflictOn(FakeApi api, string method, string name, int times = int.MaxValue, List<string>? versions = null) =>
        r =>
        {
            if (r.Method != method || times-- <= 0)
            {
                return null;
            }

            var version = api.Touch(Ns, name);
            versions?.Add(version);
            return new Fault(409, Reason: "Conflict");
        };

    private static bool Hits(string stage, ApiRequest r) => stage switch
    {
        "get" => r.Method == "GET" && r.Path == WebPath,
        "list" => r.Line == ListLine,
        _ => r.Method == "POST",
    };

    [Theory]
    [MemberData(nameof(StagesAndStatuses))]
    public async Task Transient_api_failure_answers_503_with_bounded_fast_retries_and_no_memo(string stage, int status)
    {
        using var api = WithWeb();
        api.Hook = r => Hits(stage, r) ? new Fault(status) : null;
        using var app = Start(api.Url);
        await app.WarmUpAsync();
        api.ClearLog();

        using var response = await app.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web");

        var outcome = await CloudEvents.OutcomeAsync(response, HttpStatusCode.ServiceUnavailable);
        Assert.Equal("transient", (string?)outcome["result"]);
        Assert.True(CloudEvents.RetryAfterSeconds(response) >= 1, "Retry-After must be at least one second");
        var failing = api.Requests.Where(r => Hits(stage, r)).ToList();
        Assert.InRange(failing.Count, 1, 1 + Retries);
        AssertRetriesFitTheBudget(failing);
        Assert.Equal(0, app.Services.GetRequiredService<PlanMemo>().Count);
        // Nothing after the failing call: a failed create does not go on to the next Image.
        Assert.Empty(api.Images(Ns));

        // Recovered: the redelivery does the whole job (GET, LIST, all creates), nothing skipped by a memo.
        api.Hook = null;
        api.ClearLog();
        using var again = await app.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web");

        var done = await CloudEvents.OutcomeAsync(again, HttpStatusCode.OK);
        Assert.Equal(("reconciled", 3), ((string?)done["result"], (int?)done["created"]));
        Assert.Equal([$"GET {WebPath}", ListLine, "POST " + FakeApi.ImagesPath(Ns), "POST " + FakeApi.ImagesPath(Ns), "POST " + FakeApi.ImagesPath(Ns)], api.Lines);
        Assert.Equal(WebImages, api.Images(Ns).Select(i => (string)i["spec"]!["image"]!).Order());
    }

    [Theory]
    [InlineData(0, 1)]
    [InlineData(1, 2)]
    [InlineData(3, 4)]
    public async Task In_process_retries_follow_the_configured_bound(int retries, int attempts)
    {
        using var api = WithWeb();
        api.Hook = r => r.Path == WebPath ? new Fault(503) : null;
        using var app = Reliable(api.Url, ("ApiRetries", retries.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        await app.WarmUpAsync();
        api.ClearLog();

        using var response = await app.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web");

        await CloudEvents.OutcomeAsync(response, HttpStatusCode.ServiceUnavailable);
        Assert.Equal(attempts, api.Requests.Count);
    }

    [Fact]
    public async Task A_429_with_a_long_retry_after_is_handed_back_to_the_sender_at_once()
    {
        using var api = WithWeb();
        api.Hook = r => r.Path == WebPath ? new Fault(429, Headers: new Dictionary<string, string> { ["Retry-After"] = "10" }) : null;
        using var app = Start(api.Url);
        await app.WarmUpAsync();
        api.ClearLog();

        var clock = Stopwatch.StartNew();
        using var response = await app.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web");
        clock.Stop();

        await CloudEvents.OutcomeAsync(response, HttpStatusCode.ServiceUnavailable);
        Assert.True(CloudEvents.RetryAfterSeconds(response) >= 10, $"Retry-After {CloudEvents.RetryAfterSeconds(response)} is shorter than the API server asked for");
        Assert.Single(api.Requests);
        // Not waited for in-process (that would take 10 s).
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.ElapsedMilliseconds} ms");
    }

    [Fact]
    public async Task A_429_with_a_retry_after_date_is_handed_back_as_seconds()
    {
        using var api = WithWeb();
        var at = DateTimeOffset.UtcNow.AddSeconds(30).ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        api.Hook = r => r.Path == WebPath ? new Fault(429, Headers: new Dictionary<string, string> { ["Retry-After"] = at }) : null;
        using var app = Start(api.Url);
        await app.WarmUpAsync();
        api.ClearLog();

        using var response = await app.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web");

        await CloudEvents.OutcomeAsync(response, HttpStatusCode.ServiceUnavailable);
        Assert.InRange(CloudEvents.RetryAfterSeconds(response), 20, 31);
        Assert.Single(api.Requests);
    }

    [Fact]
    public async Task A_429_with_a_short_retry_after_is_honoured_in_process()
    {
        using var api = WithWeb();
        var first = true;
        api.Hook = r =>
        {
            if (r.Path != WebPath || !first)
            {
                return null;
            }

            first = false;
            return new Fault(429, Headers: new Dictionary<string, string> { ["Retry-After"] = "1" });
        };
        using var app = Start(api.Url);
        await app.WarmUpAsync();
        api.ClearLog();

        using var response = await app.SendRefAsync("add", "apps/v1", "Deployment", Ns, "web");

        var outcome = await CloudEvents.OutcomeAsync(response, HttpStatusCode.OK);
        Assert.Equal(3, (int?)outcome["created"]);
        var gets = api.Requests.Where(r => r.Path == WebPath).ToList();
        Assert.Equal(2, gets.Count);
        var gap = Stopwatch.GetElapsedTime(gets[0].ArrivedTimestamp, gets[1].ArrivedTimestamp);
        Assert.True(gap >= TimeSpan.FromMilliseconds(950), $"retried after {gap.TotalMilliseconds:0} ms although the API server asked for 1 s");
    }

    [Fact]
    public async Task A_429_with_retry_after_on_every_attempt_still_answers_within_the_sender_budget()
    {
        using var api = WithWeb();
        api.Hook = r => r.Path == WebPath ? new Fault(429, Headers: new Dictionary<string, string> { ["Retry-After"] = "1" }) : null;
        using var app = Start(api.Url);
        await app.WarmUpAsync();
        api.ClearLog();

        using var response = await app.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web");

        await CloudEvents.OutcomeAsync(response, HttpStatusCode.ServiceUnavailable);
        Assert.True(CloudEvents.RetryAfterSeconds(response) >= 1);
        Assert.InRange(api.Requests.Count, 1, 1 + Retries);
        AssertRetriesFitTheBudget(api.Requests);
    }

    [Fact]
    public async Task An_api_server_that_hangs_past_the_call_timeout_is_a_503_after_bounded_attempts()
    {
        using var api = WithWeb();
        api.Hook = r => r.Path == WebPath ? new Fault(200, Delay: TimeSpan.FromSeconds(10)) : null;
        using var app = Start(api.Url, ("ApiTimeout", "00:00:00.300"));
        await app.WarmUpAsync();
        api.ClearLog();

        using var response = await app.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web");

        var outcome = await CloudEvents.OutcomeAsync(response, HttpStatusCode.ServiceUnavailable);
        Assert.Equal("transient", (string?)outcome["result"]);
        Assert.True(CloudEvents.RetryAfterSeconds(response) >= 1);
        Assert.InRange(api.Requests.Count, 1, 1 + Retries);
        // (1 + retries) x 300 ms plus jitter: far below the 10 s the API server would have taken.
        AssertRetriesFitTheBudget(api.Requests, lastWait: TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public async Task A_connection_reset_by_the_api_server_is_a_503_after_bounded_attempts()
    {
        using var reset = RawServer.Resetting();
        using var app = Start(reset.Url);
        await app.WarmUpAsync();

        using var response = await app.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web");

        var outcome = await CloudEvents.OutcomeAsync(response, HttpStatusCode.ServiceUnavailable);
        Assert.Equal("transient", (string?)outcome["result"]);
        Assert.True(CloudEvents.RetryAfterSeconds(response) >= 1);
        Assert.InRange(reset.Requests, 1, 1 + Retries);
        Assert.True(reset.Span < SenderBudget, $"{reset.Requests} attempts took {reset.Span.TotalMilliseconds:0} ms");
    }

    /// <summary>WireMock.Net 1.25's faults: a 200 whose body is empty, or a 200 whose body is random bytes.</summary>
    [Theory]
    [InlineData(FaultType.EMPTY_RESPONSE)]
    [InlineData(FaultType.MALFORMED_RESPONSE_CHUNK)]
    public async Task A_broken_http_answer_is_a_503_after_bounded_attempts(FaultType fault)
    {
        using var api = WireMockServer.Start();
        api.Given(Request.Create().UsingAnyMethod()).RespondWith(Response.Create().WithStatusCode(200).WithBody("{\"kind\":").WithFault(fault));
        using var app = Start(api.Url!);
        await app.WarmUpAsync();

        using var response = await app.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web");

        var outcome = await CloudEvents.OutcomeAsync(response, HttpStatusCode.ServiceUnavailable);
        Assert.Equal("transient", (string?)outcome["result"]);
        Assert.True(CloudEvents.RetryAfterSeconds(response) >= 1);
        var attempts = api.LogEntries.Where(e => e.RequestMessage!.Path != ApiPaths.StartCheckPath).Select(e => e.RequestMessage!.DateTime).Order().ToList();
        Assert.InRange(attempts.Count, 1, 1 + Retries);
        Assert.True(attempts[^1] - attempts[0] < SenderBudget, $"{attempts.Count} attempts took {(attempts[^1] - attempts[0]).TotalMilliseconds:0} ms");
    }

    [Fact]
    public async Task An_api_server_that_is_down_is_a_fast_503()
    {
        using var app = Start(Ports.ClosedUrl());
        await app.WarmUpAsync();

        var clock = Stopwatch.StartNew();
        using var response = await app.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web");
        clock.Stop();

        var outcome = await CloudEvents.OutcomeAsync(response, HttpStatusCode.ServiceUnavailable);
        Assert.Equal("transient", (string?)outcome["result"]);
        Assert.True(CloudEvents.RetryAfterSeconds(response) >= 1);
        Assert.True(clock.Elapsed < SenderBudget, $"took {clock.ElapsedMilliseconds} ms");
    }

    [Fact]
    public async Task A_write_failing_half_way_is_finished_by_the_redelivery_without_duplicates()
    {
        using var api = WithWeb();
        var second = ExpectedNames.Image("web", Uid, "img-b:1");
        // The second of three creates (the plan writes in image order) fails every time.
        api.Hook = r => r.Method == "POST" && r.Json["metadata"]!["name"]!.GetValue<string>() == second ? new Fault(503) : null;
        using var app = Start(api.Url);
        await app.WarmUpAsync();

        using var response = await app.SendRefAsync("add", "apps/v1", "Deployment", Ns, "web");

        await CloudEvents.OutcomeAsync(response, HttpStatusCode.ServiceUnavailable);
        var left = Assert.Single(api.Images(Ns));
        Assert.Equal(ExpectedNames.Image("web", Uid, "img-a:1"), (string?)left["metadata"]!["name"]);
        var firstUid = (string?)left["metadata"]!["uid"];
        Assert.Equal(0, app.Services.GetRequiredService<PlanMemo>().Count);

        api.Hook = null;
        api.ClearLog();
        using var again = await app.SendRefAsync("add", "apps/v1", "Deployment", Ns, "web");

        var outcome = await CloudEvents.OutcomeAsync(again, HttpStatusCode.OK);
        Assert.Equal((2, 1), ((int?)outcome["created"], (int?)outcome["unchanged"]));
        var creates = api.Writes.Select(w => (w.Method, (string?)w.Json["metadata"]!["name"])).ToList();
        Assert.Equal([("POST", second), ("POST", ExpectedNames.Image("web", Uid, "img-c:1"))], creates);
        var images = api.Images(Ns);
        Assert.Equal(WebImages, images.Select(i => (string)i["spec"]!["image"]!).Order());
        Assert.Equal(firstUid, (string?)images.Single(i => (string?)i["spec"]!["image"] == "img-a:1")["metadata"]!["uid"]);

        // And once more: steady state, nothing written.
        api.ClearLog();
        using var third = await app.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web");
        await CloudEvents.OutcomeAsync(third, HttpStatusCode.OK);
        Assert.Empty(api.Writes);
        Assert.Equal(3, api.Images(Ns).Count);
    }

    [Fact]
    public async Task A_conflict_on_update_is_retried_from_a_fresh_read_with_its_resource_version()
    {
        using var api = new FakeApi();
        api.PutDeployment(Deployment("web", Uid, 3, ["img-a:1"], serviceAccount: "new-sa"));
        var image = api.PutImage(OurImage("web", Uid, 3, "img-a:1", serviceAccount: "old-sa"));
        var name = (string)image["metadata"]!["name"]!;
        api.Hook = ConflictOn(api, "PATCH", name, times: 1);
        using var app = Start(api.Url);

        using var response = await app.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web");

        var outcome = await CloudEvents.OutcomeAsync(response, HttpStatusCode.OK);
        Assert.Equal(1, (int?)outcome["updated"]);
        var patches = api.Requests.Where(r => r.Method == "PATCH").ToList();
        Assert.Equal(2, patches.Count);
        var read = api.Requests.Single(r => r.Line == $"GET {FakeApi.ImagePath(Ns, name)}");
        Assert.True(read.ArrivedTimestamp > patches[0].ArrivedTimestamp && read.ArrivedTimestamp < patches[1].ArrivedTimestamp, "re-read between the two patches");
        Assert.NotEqual((string?)patches[0].Json["metadata"]!["resourceVersion"], (string?)patches[1].Json["metadata"]!["resourceVersion"]);
        Assert.Equal("new-sa", (string?)api.Image(Ns, name)!["spec"]!["serviceAccountName"]);
    }

    [Fact]
    public async Task A_conflict_on_every_update_is_bounded_and_answered_503()
    {
        using var api = new FakeApi();
        api.PutDeployment(Deployment("web", Uid, 3, ["img-a:1"], serviceAccount: "new-sa"));
        var name = (string)api.PutImage(OurImage("web", Uid, 3, "img-a:1", serviceAccount: "old-sa"))["metadata"]!["name"]!;
        var versions = new List<string>();
        api.Hook = ConflictOn(api, "PATCH", name, versions: versions);
        using var app = Start(api.Url);

        using var response = await app.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web");

        var outcome = await CloudEvents.OutcomeAsync(response, HttpStatusCode.ServiceUnavailable);
        Assert.Equal("transient", (string?)outcome["result"]);
        Assert.True(CloudEvents.RetryAfterSeconds(response) >= 1);
        var patches = api.Requests.Where(r => r.Method == "PATCH").ToList();
        Assert.InRange(patches.Count, 2, 5);
        // Every retry carries the resourceVersion of the read that followed the previous conflict.
        for (var i = 1; i < patches.Count; i++)
        {
            Assert.Equal(versions[i - 1], (string?)patches[i].Json["metadata"]!["resourceVersion"]);
        }

        Assert.Equal(0, app.Services.GetRequiredService<PlanMemo>().Count);
    }

    [Fact]
    public async Task A_precondition_failure_on_delete_is_retried_from_a_fresh_read()
    {
        using var api = new FakeApi();
        api.PutDeployment(Deployment("web", Uid, 3, ["img-a:1"]));
        api.PutImage(OurImage("web", Uid, 3, "img-a:1"));
        var old = api.PutImage(OurImage("web", Uid, 2, "img-old:1"));
        var name = (string)old["metadata"]!["name"]!;
        api.Hook = ConflictOn(api, "DELETE", name, times: 1);
        using var app = Start(api.Url);

        using var response = await app.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web");

        var outcome = await CloudEvents.OutcomeAsync(response, HttpStatusCode.OK);
        Assert.Equal(1, (int?)outcome["deleted"]);
        var deletes = api.Requests.Where(r => r.Method == "DELETE").ToList();
        Assert.Equal(2, deletes.Count);
        Assert.NotEqual((string?)deletes[0].Json["preconditions"]!["resourceVersion"], (string?)deletes[1].Json["preconditions"]!["resourceVersion"]);
        Assert.Equal((string?)old["metadata"]!["uid"], (string?)deletes[1].Json["preconditions"]!["uid"]);
        Assert.Null(api.Image(Ns, name));
    }

    [Fact]
    public async Task A_precondition_failure_on_every_delete_is_bounded_and_answered_503()
    {
        using var api = new FakeApi();
        api.PutDeployment(Deployment("web", Uid, 3, ["img-a:1"]));
        api.PutImage(OurImage("web", Uid, 3, "img-a:1"));
        var name = (string)api.PutImage(OurImage("web", Uid, 2, "img-old:1"))["metadata"]!["name"]!;
        api.Hook = ConflictOn(api, "DELETE", name);
        using var app = Start(api.Url);

        using var response = await app.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web");

        await CloudEvents.OutcomeAsync(response, HttpStatusCode.ServiceUnavailable);
        Assert.True(CloudEvents.RetryAfterSeconds(response) >= 1);
        Assert.InRange(api.Requests.Count(r => r.Method == "DELETE"), 2, 5);
        Assert.NotNull(api.Image(Ns, name));
        Assert.Equal(0, app.Services.GetRequiredService<PlanMemo>().Count);
    }

    [Fact]
    public async Task A_request_aborted_by_the_client_cancels_the_outbound_call()
    {
        using var hang = RawServer.Hanging();
        using var app = Start(hang.Url, ("ApiTimeout", "00:01:00"), ("RequestDeadline", "00:02:00"));
        await app.WarmUpAsync();
        using var abort = new CancellationTokenSource();
        var completion = app.NextCompletion;

        var send = app.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web", abort.Token);
        await hang.FirstRequest.WaitAsync(TimeSpan.FromSeconds(10));
        abort.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => send);
        // The server side finishes and the API call's connection is closed long before the 60 s call timeout.
        await completion.WaitAsync(TimeSpan.FromSeconds(5));
        await hang.ClientClosed.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(1, hang.Requests);
    }

    [Fact]
    public async Task The_request_deadline_ends_a_hanging_reconcile_with_503_and_cancels_the_call()
    {
        using var hang = RawServer.Hanging();
        using var app = Start(hang.Url, ("ApiTimeout", "00:01:00"), ("RequestDeadline", "00:00:01"));
        await app.WarmUpAsync();

        var clock = Stopwatch.StartNew();
        using var response = await app.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web");
        clock.Stop();

        var outcome = await CloudEvents.OutcomeAsync(response, HttpStatusCode.ServiceUnavailable);
        Assert.Equal("transient", (string?)outcome["result"]);
        Assert.True(CloudEvents.RetryAfterSeconds(response) >= 1);
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(5));
        await hang.ClientClosed.WaitAsync(TimeSpan.FromSeconds(5));
    }
}
