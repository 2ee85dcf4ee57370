using System.Text.Json.Nodes;
using static Cachier.Tests.Support.AppHost;
using static Cachier.Tests.Support.CloudEvents;
using static Cachier.Tests.Support.Objects;

namespace Cachier.Tests.Contract;

/// <summary>
/// SPEC sections 2-4 as seen on the wire: where the pod spec is found (by shape), core-group paths, the name cut
/// to 63 characters, and the optional namespace and image filters.
/// </summary>
public sealed class WorkloadShapeContractTests
{
    private const string Uid = "5b1c7f3e-2d4a-4c8b-9e6f-0a1b2c3d4e5f";

    [Fact]
    public async Task Reconcile_reads_a_core_group_pod_and_labels_a_missing_generation_as_zero()
    {
        using var host = Start(("Resources", "Pod.v1"));
        var pod = new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Pod",
            ["metadata"] = new JsonObject { ["name"] = "web-pod", ["namespace"] = Ns, ["uid"] = Uid, ["resourceVersion"] = "9" },
            ["spec"] = new JsonObject
            {
                ["containers"] = new JsonArray(new JsonObject { ["name"] = "c", ["image"] = "nginx:1.25" }),
                ["ephemeralContainers"] = new JsonArray(new JsonObject { ["name"] = "debug", ["image"] = "busybox:debug" }),
            },
        };
        host.StubGetWorkload("v1", "pods", Ns, "web-pod", pod);
        host.StubListImages(Ns);
        host.StubCreate(Ns);

        await OutcomeAsync(await host.SendRefAsync("add", "v1", "Pod", Ns, "web-pod"));

        Assert.Equal($"GET /api/v1/namespaces/{Ns}/pods/web-pod", host.Calls[0].Line);
        var create = Assert.Single(host.Writes);
        AssertCreates(create, pod, "nginx:1.25");
        Assert.Equal("00000", (string?)create.Json["metadata"]!["labels"]!["generation"]);
    }

    [Fact]
    public async Task Reconcile_finds_the_pod_spec_of_a_cronjob_under_its_job_template()
    {
        using var host = Start();
        var cron = new JsonObject
        {
            ["apiVersion"] = "batch/v1",
            ["kind"] = "CronJob",
            ["metadata"] = new JsonObject { ["name"] = "nightly", ["namespace"] = Ns, ["uid"] = Uid, ["generation"] = 7 },
            ["spec"] = new JsonObject
            {
                ["schedule"] = "0 3 * * *",
                ["jobTemplate"] = new JsonObject
                {
                    ["spec"] = new JsonObject
                    {
                        ["template"] = new JsonObject
                        {
                            ["spec"] = new JsonObject
                            {
                                ["serviceAccountName"] = "batch-sa",
                                ["containers"] = new JsonArray(new JsonObject { ["name"] = "job", ["image"] = "backup:2" }),
                                ["restartPolicy"] = "OnFailure",
                            },
                        },
                    },
                },
            },
        };
        host.StubGetWorkload("batch/v1", "cronjobs", Ns, "nightly", cron);
        host.StubListImages(Ns);
        host.StubCreate(Ns);

        await OutcomeAsync(await host.SendResourceAsync("add", cron));

        AssertCreates(Assert.Single(host.Writes), cron, "backup:2", "batch-sa");
        Assert.Equal($"GET {ImagesPath(Ns)}{ControllerQuery(Uid)}", host.Calls[1].Line);
    }

    [Fact]
    public async Task Reconcile_ignores_an_object_without_a_pod_spec_after_reading_it()
    {
        using var host = Start(("Resources", "Widget.v1.example.io"));
        var widget = new JsonObject
        {
            ["apiVersion"] = "example.io/v1",
            ["kind"] = "Widget",
            ["metadata"] = new JsonObject { ["name"] = "w", ["namespace"] = Ns, ["uid"] = Uid, ["generation"] = 1 },
            ["spec"] = new JsonObject { ["size"] = 3 },
        };
        host.StubGetWorkload("example.io/v1", "widgets", Ns, "w", widget);

        var outcome = await OutcomeAsync(await host.SendRefAsync("update", "example.io/v1", "Widget", Ns, "w"));

        Assert.Equal([$"GET /apis/example.io/v1/namespaces/{Ns}/widgets/w"], host.Lines);
        Assert.Equal("ignored", (string?)outcome["result"]);
    }

    [Fact]
    public async Task Reconcile_cuts_a_long_workload_name_so_the_image_name_fits_63_characters()
    {
        using var host = Start();
        var longName = new string('a', 51) + "-" + new string('b', 8);
        var web = Deployment(longName, Uid, 1, ["nginx:1.25"]);
        host.StubGetWorkload("apps/v1", "deployments", Ns, longName, web);
        host.StubListImages(Ns);
        host.StubCreate(Ns);

        await OutcomeAsync(await host.SendRefAsync("add", "apps/v1", "Deployment", Ns, longName));

        var create = Assert.Single(host.Writes);
        AssertCreates(create, web, "nginx:1.25");
        var name = (string)create.Json["metadata"]!["name"]!;
        // Cut to 52 characters, the trailing '-' of the cut removed, then "-" + 10 hex characters.
        Assert.Matches($"^{new string('a', 51)}-[0-9a-f]{{10}}$", name);
        Assert.True(name.Length <= 63);
    }

    [Fact]
    public async Task Events_in_an_excluded_namespace_are_ignored_without_any_api_call()
    {
        using var host = Start(("ExcludedNamespaces:0", "kube-system"));

        var outcome = await OutcomeAsync(await host.SendRefAsync("update", "apps/v1", "Deployment", "kube-system", "coredns"));

        Assert.Empty(host.Calls);
        Assert.Equal("ignored", (string?)outcome["result"]);
    }

    [Fact]
    public async Task Reconcile_creates_no_image_for_an_excluded_image_pattern()
    {
        using var host = Start(("ExcludeImages:0", "^envoy"));
        var web = Deployment("web", Uid, 1, ["nginx:1.25", "envoy:1.30"]);
        host.StubGetWorkload("apps/v1", "deployments", Ns, "web", web);
        host.StubListImages(Ns);
        host.StubCreate(Ns);

        await OutcomeAsync(await host.SendRefAsync("add", "apps/v1", "Deployment", Ns, "web"));

        AssertCreates(Assert.Single(host.Writes), web, "nginx:1.25");
    }
}
