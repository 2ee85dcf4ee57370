using System.Text.RegularExpressions;
using Cachier.Manifests;
using static Cachier.Tests.Support.AppHost;
using static Cachier.Tests.Support.CloudEvents;
using static Cachier.Tests.Support.Objects;

namespace Cachier.Tests.Contract;

/// <summary>
/// Issue 17 part 5: the ClusterRole grants exactly the verbs the code sends. The app runs every kind of call it makes
/// (an event that patches, deletes, creates and re-reads after a 409, twice so that its Kubernetes Events are written
/// and then aggregated, then a resync) against a fake API server; the
/// calls, mapped to RBAC verbs as the API server's authorizer does, must be the lists of <see cref="ApiAccess"/> that
/// <c>cachier manifests</c> writes into the ClusterRole (Cachier.Tests.DeploymentChecks.RbacTests compares the role).
/// </summary>
public sealed partial class RbacVerbsContractTests
{
    private const string Uid = "5b1c7f3e-2d4a-4c8b-9e6f-0a1b2c3d4e5f";
    private const string Stranger = "0f0f0f0f-1111-2222-3333-444444444444";

    [Fact]
    public async Task Cachier_sends_exactly_the_verbs_its_cluster_role_grants()
    {
        using var host = StartWithEvents();
        var web = Deployment("web", Uid, 2, ["kept:1", "taken:1"]);
        var kept = ExpectedNames.Image("web", Uid, "kept:1");
        var old = ExpectedNames.Image("web", Uid, "old:1");
        var taken = ExpectedNames.Image("web", Uid, "taken:1");
        host.StubGetWorkload("apps/v1", "deployments", Ns, "web", web);
        // kept: ours, written at an older generation (patched); old: ours, no longer in the pod spec (deleted);
        // taken: its create answers 409 and the Image there belongs to another owner (re-read, left alone).
        host.StubListImages(Ns, OurImage(web, "kept:1", "img-k", "5", labelGeneration: 1), OurImage(web, "old:1", "img-o", "6"));
        host.StubPatch(Ns, kept);
        host.StubDelete(Ns, old);
        host.StubCreate(Ns, 409);
        host.StubGetImage(Ns, taken, Image(taken, "img-x", "9", "taken:1", OurLabels(Stranger, 1), ControllerRef("apps/v1", "StatefulSet", "other", Stranger)));

        host.Stub("GET", $"{ImagesRoot}/images", 200, ImageList(null, []));
        host.Stub("GET", "/apis/apps/v1/deployments", 200, ImageList(null, []));
        host.Stub("POST", $"/api/v1/namespaces/{Ns}/events", 201, new System.Text.Json.Nodes.JsonObject { ["kind"] = "Event" });
        host.Api.Given(WireMock.RequestBuilders.Request.Create().WithPath(new WireMock.Matchers.WildcardMatcher($"/api/v1/namespaces/{Ns}/events/*")).UsingPatch())
            .RespondWith(WireMock.ResponseBuilders.Response.Create().WithStatusCode(200).WithBody("{}"));

        // Not-owned is not remembered as applied: the second event writes the same again, and its Events are aggregated.
        await host.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web");
        await host.FlushEventsAsync();
        await host.SendRefAsync("update", "apps/v1", "Deployment", Ns, "web");
        await host.FlushEventsAsync();
        await host.Client.PostAsync("/resync", null);

        var sent = host.Calls.Select(Grant).ToHashSet();
        Assert.Equal(ApiAccess.ImageVerbs.Order(), sent.Where(g => g.Resource == "images").Select(g => g.Verb).Order());
        Assert.Equal(ApiAccess.WorkloadVerbs.Order(), sent.Where(g => g.Resource == "deployments").Select(g => g.Verb).Order());
        Assert.Equal(ApiAccess.EventVerbs.Order(), sent.Where(g => g.Resource == "events").Select(g => g.Verb).Order());
        var beyond = sent.Where(g => g.Resource is not ("images" or "events") && !ApiAccess.WorkloadVerbs.Contains(g.Verb)).ToList();
        Assert.True(beyond.Count == 0, $"calls on the watched kinds beyond {string.Join(", ", ApiAccess.WorkloadVerbs)}: {string.Join("; ", beyond)}");
    }

    /// <summary>A call as the RBAC authorizer sees it: the resource (with subresource) and the verb of its method and path.</summary>
    private static (string Resource, string Verb) Grant(ApiCall call)
    {
        var m = ResourcePath().Match(call.Path);
        Assert.True(m.Success, $"{call.Line} is not a resource path");
        var named = m.Groups["name"].Success;
        var verb = (call.Method, named) switch
        {
            ("GET", true) => "get",
            ("GET", false) => "list",
            ("POST", _) => "create",
            ("PUT", _) => "update",
            ("PATCH", _) => "patch",
            ("DELETE", true) => "delete",
            ("DELETE", false) => "deletecollection",
            _ => throw new Xunit.Sdk.XunitException($"unexpected method in {call.Line}"),
        };
        return (m.Groups["resource"].Value + (m.Groups["sub"].Success ? "/" + m.Groups["sub"].Value : ""), verb);
    }

    [GeneratedRegex("^/(?:api/[^/]+|apis/[^/]+/[^/]+)(?:/namespaces/[^/]+)?/(?<resource>[^/]+)(?:/(?<name>[^/]+)(?:/(?<sub>[^/]+))?)?$")]
    private static partial Regex ResourcePath();
}
