using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using Xunit.Abstractions;

namespace Cachier.Tests.Integration;

/// <summary>
/// SPEC section 7 against the real API server: 2,000 workloads of every watched kind, created without any event, are
/// backfilled by one resync; a second resync writes nothing; a third repairs drift made by hand and writes only that.
/// Other tests share the cluster, and some run meanwhile: every Image assertion is scoped to this test's namespaces,
/// and the resyncs whose write counts must be exact exclude every other namespace (Cachier:ExcludedNamespaces).
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ResyncIntegrationTests(ClusterFixture cluster, ITestOutputHelper output)
{
    private const int NamespaceCount = 20;
    private const int PerNamespace = 100;
    private const string ImageResource = "images.caching.internal.knative.dev";
    private const string Decorate = "cachier.mattmoor.io/decorate";

    private Kubectl Kubectl => cluster.Admin;

    [Fact]
    public async Task Resync_backfills_workloads_made_without_events_then_writes_only_the_drift()
    {
        var clock = Stopwatch.StartNew();
        var namespaces = await Task.WhenAll(Enumerable.Range(0, NamespaceCount).Select(_ => cluster.NamespaceAsync()));
        try
        {
            var fleet = await CreateFleetAsync(namespaces);
            Trace(clock, $"created {fleet.Count} workloads in {NamespaceCount} namespaces, without any event");

            // 1. Backfill, over the whole cluster as deployed: exactly the planned Images in each of our namespaces,
            //    named by the SPEC's rule (other tests' namespaces get repaired too, which the summary also counts).
            var first = await ResyncAsync(namespaces, excludeOthers: false);
            Trace(clock, $"resync 1 (backfill, whole cluster): {first}");
            var backfilled = await ImagesAsync(namespaces);
            var expected = Expected(fleet);
            Assert.Equal(CountPerNamespace(namespaces, expected.Keys), CountPerNamespace(namespaces, backfilled.Keys));
            AssertSame(expected, backfilled);
            Assert.True(first.Created >= expected.Count, $"the summary counts {first.Created} creations, fewer than the {expected.Count} Images made");
            AssertSamples(fleet, backfilled);

            // Tests in other collections share this cluster and run meanwhile: from here on every other namespace is
            // excluded, so the summary's write counts belong to this test alone.
            // 2. Nothing drifted: no write, every Image untouched.
            var second = await ResyncAsync(namespaces, excludeOthers: true);
            Trace(clock, $"resync 2 (no drift): {second}");
            Assert.Equal((0, 0, 0), (second.Created, second.Updated, second.Deleted));
            Assert.Equal(Versions(backfilled), Versions(await ImagesAsync(namespaces)));

            // 3. Drift made by hand: the next resync writes exactly that, and the Image set is the plan again.
            var drift = await MakeDriftAsync(fleet, namespaces, backfilled);
            var drifted = await ImagesAsync(namespaces);
            Trace(clock, $"drift made: expect created {drift.Created}, updated {drift.Updated}, deleted {drift.Deleted}");
            var third = await ResyncAsync(namespaces, excludeOthers: true);
            Trace(clock, $"resync 3 (drift repair): {third}");
            Assert.Equal((drift.Created, drift.Updated, drift.Deleted), (third.Created, third.Updated, third.Deleted));
            var repaired = await ImagesAsync(namespaces);
            AssertSame(Expected(fleet), repaired);
            var rewritten = drifted.Keys.Where(key => repaired.TryGetValue(key, out var now) && now.ResourceVersion != drifted[key].ResourceVersion);
            Assert.Equal(drift.Rewritten.Order(StringComparer.Ordinal), rewritten.Order(StringComparer.Ordinal));
            Trace(clock, "verified");
        }
        finally
        {
            await RemoveAsync(namespaces);
            Trace(clock, "namespaces emptied and deleted");
        }
    }

    /// <summary>
    /// An Image is a namespaced object and its ownerReference can only name an owner in its own namespace, so a
    /// workload's Images are those of its namespace (an event's LIST is namespaced too). A copy of one into another
    /// namespace (labels and all, as a namespace clone or a hand-made copy gives) must not stand in for the original.
    /// </summary>
    [Fact]
    public async Task Resync_matches_a_workload_only_with_images_of_its_own_namespace()
    {
        // The copy's namespace sorts first, so the cluster-wide LIST returns the copy before the original.
        var pair = (await Task.WhenAll(cluster.NamespaceAsync(), cluster.NamespaceAsync())).Order(StringComparer.Ordinal).ToArray();
        var (other, ns) = (pair[0], pair[1]);
        await Kubectl.ApplyAsync(Workloads.Deployment(ns, "web", ["nginx:1.25"], replicas: 0));
        await ResyncAsync(pair, excludeOthers: true);
        var original = Assert.Single(await Kubectl.ImagesAsync(ns));
        var copy = original.DeepClone().AsObject();
        copy["metadata"] = new JsonObject
        {
            ["name"] = original["metadata"]!["name"]!.DeepClone(),
            ["namespace"] = other,
            ["labels"] = original["metadata"]!["labels"]!.DeepClone(),
        };
        await Kubectl.ApplyAsync(copy.ToJsonString());

        var resync = await ResyncAsync(pair, excludeOthers: true);

        Assert.Equal((0, 0, 0), (resync.Created, resync.Updated, resync.Deleted));
        Assert.Equal((string)original["metadata"]!["uid"]!, (string)Assert.Single(await Kubectl.ImagesAsync(ns))["metadata"]!["uid"]!);

        // A generation label far ahead on the copy must not make the workload look stale to the resync either.
        await Kubectl.RunAsync($"label {ImageResource} {copy["metadata"]!["name"]} generation=99999 --overwrite -n {other}");
        await Kubectl.RunAsync($"delete {ImageResource} --all -n {ns}");

        var repair = await ResyncAsync(pair, excludeOthers: true);

        Assert.Equal(1, repair.Created);
        Assert.Single(await Kubectl.ImagesAsync(ns));
    }

    // ------------------------------------------------------------------------------------------------------------
    // The fleet: 100 workloads per namespace, every watched kind, no pod anywhere.
    // ------------------------------------------------------------------------------------------------------------

    /// <summary>One workload as this test made it: the test's own model of what its Images must be.</summary>
    private sealed class Member(string ns, string kind, string name)
    {
        public string Namespace => ns;

        public string Kind => kind;

        public string Name => name;

        public string[] Containers { get; set; } = [];

        public string[] Init { get; init; } = [];

        public string? Decorate { get; set; }

        public string? ServiceAccount { get; init; }

        public string[] PullSecrets { get; init; } = [];

        /// <summary>Name of the Deployment that controls this object (ownerReference controller: true).</summary>
        public string? ControlledBy { get; init; }

        public string Uid { get; set; } = "";

        /// <summary>0 when the API server keeps none (Jobs and batch/v1beta1 CronJobs on 1.20).</summary>
        public long Generation { get; set; }

        /// <summary>Images last written at an older generation than <see cref="Generation"/> (kept across an image change).</summary>
        public Dictionary<string, long> WrittenAt { get; } = [];

        public string ApiVersion => kind switch
        {
            "Job" => "batch/v1",
            "CronJob" => "batch/v1beta1",
            _ => "apps/v1",
        };

        /// <summary>SPEC section 3, written out independently of the product.</summary>
        public bool Cached => Decorate?.ToLowerInvariant() switch
        {
            "true" or "on" or "enable" or "enabled" => true,
            "false" or "off" or "disable" or "disabled" => false,
            _ => ControlledBy is null,
        };

        /// <summary>SPEC section 4: every non-empty image of initContainers and containers, de-duplicated.</summary>
        public IReadOnlyList<string> Images => Init.Concat(Containers).Where(i => i.Length > 0).Distinct(StringComparer.Ordinal).ToList();

        public string ImageName(string image) => ExpectedNames.Image(name, Uid, image);

        public JsonObject Manifest() => Workloads.Idle(kind, ns, name, Containers, Init.Length > 0 ? Init : null, Decorate, ServiceAccount,
            PullSecrets.Length > 0 ? PullSecrets : null);
    }

    /// <summary>Workload <paramref name="k"/> of namespace <paramref name="n"/>, from the recipe the resync bench shares.</summary>
    private static Member Recipe(string ns, int n, int k)
    {
        var recipe = FleetRecipe.Member(ns, n, k);
        return new Member(ns, recipe.Kind, recipe.Name)
        {
            Containers = recipe.Containers,
            Init = recipe.Init,
            Decorate = recipe.Decorate,
            ServiceAccount = recipe.ServiceAccount,
            PullSecrets = recipe.PullSecrets,
            ControlledBy = recipe.ControlledBy,
        };
    }

    /// <summary>One <c>kubectl create</c> of a List per namespace, then one for the controlled ReplicaSets (they need their owners' uids).</summary>
    private async Task<List<Member>> CreateFleetAsync(string[] namespaces)
    {
        var fleet = namespaces.SelectMany((ns, n) => Enumerable.Range(0, PerNamespace).Select(k => Recipe(ns, n, k))).ToList();
        await Parallel.ForEachAsync(namespaces, new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (ns, _) =>
        {
            var members = fleet.Where(m => m.Namespace == ns).ToDictionary(m => (m.Kind, m.Name));
            await CreateAsync(members, members.Values.Where(m => m.ControlledBy is null).Select(m => m.Manifest()));
            await CreateAsync(members, members.Values.Where(m => m.ControlledBy is not null).Select(m =>
            {
                var manifest = m.Manifest();
                var owner = members[("Deployment", m.ControlledBy!)];
                manifest["metadata"]!["ownerReferences"] = new JsonArray(new JsonObject
                {
                    ["apiVersion"] = "apps/v1",
                    ["kind"] = "Deployment",
                    ["name"] = owner.Name,
                    ["uid"] = owner.Uid,
                    ["controller"] = true,
                    ["blockOwnerDeletion"] = true,
                });
                // Labelled for the owner's selector, so its controller keeps it as an old ReplicaSet instead of releasing it.
                manifest["metadata"]!["labels"] = new JsonObject { ["app"] = owner.Name };
                manifest["spec"]!["selector"]!["matchLabels"]!["app"] = owner.Name;
                manifest["spec"]!["template"]!["metadata"]!["labels"]!["app"] = owner.Name;
                return manifest;
            }));
        });
        return fleet;
    }

    private async Task CreateAsync(Dictionary<(string, string), Member> members, IEnumerable<JsonObject> manifests)
    {
        var list = new JsonObject { ["apiVersion"] = "v1", ["kind"] = "List", ["items"] = new JsonArray([.. manifests]) };
        var created = await Kubectl.RunAsync(
            ["create", "-f", "-", "-o", """jsonpath={.kind} {.metadata.name} {.metadata.uid} {.metadata.generation}{"\n"}"""],
            list.ToJsonString());
        foreach (var line in created.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var fields = line.Split(' ');
            var member = members[(fields[0], fields[1])];
            member.Uid = fields[2];
            member.Generation = long.TryParse(fields[3], out var generation) ? generation : 0;
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // Drift
    // ------------------------------------------------------------------------------------------------------------

    /// <summary>What the repairing resync must write, and which surviving Images it must rewrite (namespace/name).</summary>
    private sealed record Drift(int Created, int Updated, int Deleted, HashSet<string> Rewritten);

    /// <summary>
    /// Each kind of drift in its own namespace, on distinct workloads, so the expected writes add up exactly:
    /// Images deleted by hand; two Images' serviceAccountName edited; a stray Image of an image its workload no longer
    /// has; a duplicate under an original-cachier name; images changed with kubectl (only the changed image is
    /// written); one workload opted out and one opted back in by annotation.
    /// </summary>
    private async Task<Drift> MakeDriftAsync(List<Member> fleet, string[] namespaces, Dictionary<string, Observed> images)
    {
        int created = 0, updated = 0, deleted = 0;
        var rewritten = new HashSet<string>(StringComparer.Ordinal);
        Member Pick(int n, string kind, Func<Member, bool>? also = null) =>
            fleet.First(m => m.Namespace == namespaces[n] && m.Kind == kind && (also?.Invoke(m) ?? true));

        // Deleted by hand: three Images in each of five namespaces come back under the same names.
        foreach (var ns in namespaces[..5])
        {
            var names = images.Values.Where(i => i.Namespace == ns).Select(i => i.Name).Order(StringComparer.Ordinal).Take(3).ToList();
            await Kubectl.RunAsync($"delete {ImageResource} {string.Join(' ', names)} -n {ns}");
            created += names.Count;
        }

        // serviceAccountName edited: changed on one Image, added to one whose workload has none.
        foreach (var member in new[] { Pick(5, "StatefulSet", m => m.Cached && m.ServiceAccount is not null), Pick(5, "StatefulSet", m => m.Cached && m.ServiceAccount is null) })
        {
            var name = member.ImageName(member.Images[0]);
            await Kubectl.RunAsync(["patch", ImageResource, name, "-n", member.Namespace, "--type", "merge", "-p", """{"spec":{"serviceAccountName":"intruder"}}"""]);
            updated++;
            rewritten.Add($"{member.Namespace}/{name}");
        }

        // A stray: labelled and owned as this workload's, for an image the workload no longer has.
        var strayOwner = Pick(6, "StatefulSet", m => m.Cached);
        await Kubectl.RunAsync("create -f -", ImageObject(strayOwner, strayOwner.ImageName("registry.local/retired/app:0.9"),
            "registry.local/retired/app:0.9", Labels(strayOwner)).ToJsonString());
        deleted++;

        // A duplicate left by the original cachier (generateName, controller label only) of an image still in use.
        var dupOwner = Pick(7, "Job", m => m.Cached);
        await Kubectl.RunAsync("create -f -", ImageObject(dupOwner, $"{dupOwner.Name}-x7k2q", dupOwner.Images[0],
            new JsonObject { ["controller"] = dupOwner.Uid }).ToJsonString());
        deleted++;

        // Images changed with kubectl: the changed image is replaced (created with the new generation); the kept ones stay.
        foreach (var (n, kind) in new[] { (8, "Deployment"), (9, "StatefulSet"), (10, "DaemonSet"), (11, "CronJob") })
        {
            var member = Pick(n, kind, m => m.Cached && m.Containers.Length > 1);
            var before = member.Images;
            var generation = member.Generation;
            var image = $"registry.local/rolled/{member.Name}:2.0";
            var moved = await Kubectl.RunAsync($"set image {member.Kind.ToLowerInvariant()}/{member.Name} c0={image} -n {member.Namespace} -o jsonpath={{.metadata.generation}}");
            member.Containers = [image, .. member.Containers[1..]];
            member.Generation = long.TryParse(moved.Trim(), out var g) ? g : 0;
            var after = member.Images;
            foreach (var kept in after.Intersect(before))
            {
                member.WrittenAt.TryAdd(kept, generation);
            }

            created += after.Except(before).Count();
            deleted += before.Except(after).Count();
            if (member.Generation != generation && !after.Except(before).Any() && before.Except(after).Any())
            {
                // Only deletions: one kept Image is relabelled, so that the stale guard sees the new generation.
                var kept = after.Intersect(before).Select(i => $"{member.Namespace}/{member.ImageName(i)}").Take(1).ToList();
                member.WrittenAt.Remove(after.Intersect(before).First());
                updated += kept.Count;
                rewritten.UnionWith(kept);
            }
        }

        // Opted out by annotation: its Images go; opted back in: they come back.
        var optOut = Pick(12, "StatefulSet", m => m.Cached && m.Images.Count > 1);
        await Kubectl.RunAsync($"annotate statefulset/{optOut.Name} {Decorate}=false -n {optOut.Namespace}");
        optOut.Decorate = "false";
        deleted += optOut.Images.Count;
        var optIn = Pick(13, "DaemonSet", m => !m.Cached);
        await Kubectl.RunAsync($"annotate daemonset/{optIn.Name} {Decorate}=true --overwrite -n {optIn.Namespace}");
        optIn.Decorate = "true";
        created += optIn.Images.Count;

        return new Drift(created, updated, deleted, rewritten);
    }

    private static JsonObject Labels(Member member) => new()
    {
        ["controller"] = member.Uid,
        ["generation"] = $"{member.Generation:D5}",
        ["app.kubernetes.io/managed-by"] = "cachier",
    };

    private static JsonObject ImageObject(Member owner, string name, string image, JsonObject labels)
    {
        var spec = new JsonObject { ["image"] = image };
        if (owner.ServiceAccount is not null)
        {
            spec["serviceAccountName"] = owner.ServiceAccount;
        }

        return new JsonObject
        {
            ["apiVersion"] = "caching.internal.knative.dev/v1alpha1",
            ["kind"] = "Image",
            ["metadata"] = new JsonObject
            {
                ["name"] = name,
                ["namespace"] = owner.Namespace,
                ["labels"] = labels,
                ["ownerReferences"] = new JsonArray(new JsonObject
                {
                    ["apiVersion"] = owner.ApiVersion,
                    ["kind"] = owner.Kind,
                    ["name"] = owner.Name,
                    ["uid"] = owner.Uid,
                    ["controller"] = true,
                    ["blockOwnerDeletion"] = true,
                }),
            },
            ["spec"] = spec,
        };
    }

    // ------------------------------------------------------------------------------------------------------------
    // Expected and observed Images
    // ------------------------------------------------------------------------------------------------------------

    /// <summary>An Image as the API server has it: where it is, its version, and everything the SPEC fixes, as one string.</summary>
    private sealed record Observed(string Namespace, string Name, string ResourceVersion, string Shape);

    /// <summary>namespace/name -> shape, for every Image the SPEC says the fleet must have.</summary>
    private static SortedDictionary<string, string> Expected(IEnumerable<Member> fleet)
    {
        var expected = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var member in fleet.Where(m => m.Cached))
        {
            foreach (var image in member.Images)
            {
                expected.Add($"{member.Namespace}/{member.ImageName(image)}", Shape(image, member.Uid, $"{member.WrittenAt.GetValueOrDefault(image, member.Generation):D5}", "cachier",
                    $"{member.ApiVersion}/{member.Kind}/{member.Name}/{member.Uid}/True/True", member.ServiceAccount, member.PullSecrets));
            }
        }

        return expected;
    }

    private static string Shape(string image, string? controller, string? generation, string? managedBy, string owners, string? serviceAccount,
        IEnumerable<string> pullSecrets) =>
        $"image={image} controller={controller} generation={generation} managed-by={managedBy} owners={owners} " +
        $"serviceAccountName={serviceAccount} imagePullSecrets={string.Join(',', pullSecrets)}";

    /// <summary>Every Image in the given namespaces, keyed namespace/name: one cluster-wide LIST, filtered.</summary>
    private async Task<Dictionary<string, Observed>> ImagesAsync(string[] namespaces)
    {
        var ours = namespaces.ToHashSet(StringComparer.Ordinal);
        var list = JsonNode.Parse(await Kubectl.RunAsync($"get {ImageResource} --all-namespaces -o json"))!["items"]!.AsArray();
        var images = new Dictionary<string, Observed>(StringComparer.Ordinal);
        foreach (var item in list.Select(i => i!))
        {
            var meta = item["metadata"]!;
            var ns = (string)meta["namespace"]!;
            if (!ours.Contains(ns))
            {
                continue;
            }

            var labels = meta["labels"];
            var owners = string.Join(';', (meta["ownerReferences"]?.AsArray() ?? []).Select(o =>
                $"{o!["apiVersion"]}/{o["kind"]}/{o["name"]}/{o["uid"]}/{(bool?)o["controller"]}/{(bool?)o["blockOwnerDeletion"]}"));
            var shape = Shape((string)item["spec"]!["image"]!, (string?)labels?["controller"], (string?)labels?["generation"],
                (string?)labels?["app.kubernetes.io/managed-by"], owners, (string?)item["spec"]!["serviceAccountName"],
                (item["spec"]!["imagePullSecrets"]?.AsArray() ?? []).Select(s => (string)s!["name"]!));
            var name = (string)meta["name"]!;
            images.Add($"{ns}/{name}", new Observed(ns, name, (string)meta["resourceVersion"]!, shape));
        }

        return images;
    }

    /// <summary>The Image set is exactly the expected one; a failure lists the first differences, not the first items.</summary>
    private static void AssertSame(SortedDictionary<string, string> expected, Dictionary<string, Observed> images)
    {
        var missing = expected.Keys.Where(k => !images.ContainsKey(k)).Select(k => $"missing {k}: {expected[k]}");
        var extra = images.Keys.Where(k => !expected.ContainsKey(k)).Select(k => $"unexpected {k}: {images[k].Shape}");
        var different = expected.Keys.Where(k => images.TryGetValue(k, out var i) && i.Shape != expected[k])
            .Select(k => $"different {k}:\n  expected {expected[k]}\n  found    {images[k].Shape}");
        var differences = missing.Concat(extra).Concat(different).Take(10).ToList();
        Assert.True(differences.Count == 0, $"{expected.Count} Images expected, {images.Count} found:\n{string.Join('\n', differences)}");
    }

    private static SortedDictionary<string, string> Versions(Dictionary<string, Observed> images) =>
        new(images.ToDictionary(i => i.Key, i => i.Value.ResourceVersion), StringComparer.Ordinal);

    /// <summary>"namespace=count" in the order of <paramref name="namespaces"/>, so a failing comparison shows which one.</summary>
    private static List<string> CountPerNamespace(string[] namespaces, IEnumerable<string> keys)
    {
        var counts = keys.GroupBy(k => k[..k.IndexOf('/')]).ToDictionary(g => g.Key, g => g.Count());
        return namespaces.Select(ns => $"{ns}={counts.GetValueOrDefault(ns)}").ToList();
    }

    /// <summary>A few rules spelled out on named workloads, so a failure says which rule broke.</summary>
    private static void AssertSamples(List<Member> fleet, Dictionary<string, Observed> images)
    {
        var ns = fleet[0].Namespace;
        Member Get(string name) => fleet.Single(m => m.Namespace == ns && m.Name == name);
        int CountOf(Member m) => images.Values.Count(i => i.Namespace == ns && i.Shape.Contains($" controller={m.Uid} ", StringComparison.Ordinal));

        // The cut name: 52 characters of the workload name, the trailing '-' dropped, then "-" and 10 hex.
        var cut = Get("deploy-029-with-a-name-long-enough-to-be-cut-at-the-dash-here");
        var cutName = cut.ImageName(cut.Images[0]);
        Assert.Equal(62, cutName.Length);
        Assert.StartsWith("deploy-029-with-a-name-long-enough-to-be-cut-at-the-", cutName, StringComparison.Ordinal);
        Assert.DoesNotContain("--", cutName, StringComparison.Ordinal);
        Assert.Contains($"{ns}/{cutName}", images.Keys);
        Assert.All(images.Values, i => Assert.True(i.Name.Length <= 63, i.Name));

        Assert.Equal(3, CountOf(Get("deploy-009")));  // init, main, sidecar: main also in an init container and twice in containers
        Assert.Equal(2, CountOf(Get("deploy-001")));  // init, main: a container image listed twice counts once
        Assert.Equal(0, CountOf(Get("deploy-007")));  // opted out: "false"
        Assert.Equal(0, CountOf(Get("job-067")));     // opted out: "DISABLED"
        Assert.Equal(3, CountOf(Get("sts-033")));     // opted in on an uncontrolled object: "enable"
        Assert.Equal(1, CountOf(Get("ds-055")));      // unknown value "maybe": the default rule
        Assert.Equal(3, CountOf(Get("cron-081")));    // a CronJob's images come from its job template
        Assert.Equal(0, CountOf(Get("rs-095")));      // controlled, unknown value: left to its controller
        Assert.Equal(0, CountOf(Get("rs-096")));      // controlled: left to its controller
        Assert.Equal(1, CountOf(Get("rs-098")));      // controlled but opted in: "True"
        Assert.Equal(0, CountOf(Get("rs-099")));      // controlled and opted out: "off"
    }

    /// <summary>POST /resync on a fresh app; <paramref name="excludeOthers"/>: every namespace but ours, as the cluster has them now, excluded.</summary>
    private async Task<ResyncResult> ResyncAsync(string[] namespaces, bool excludeOthers)
    {
        var settings = new List<(string, string)>();
        if (excludeOthers)
        {
            var all = (await Kubectl.RunAsync("get namespaces -o jsonpath={.items[*].metadata.name}")).Split(' ', StringSplitOptions.RemoveEmptyEntries);
            settings.AddRange(all.Except(namespaces).Select((ns, i) => ($"ExcludedNamespaces:{i}", ns)));
        }

        using var app = cluster.App([.. settings]);
        using var client = app.CreateClient();
        client.Timeout = TimeSpan.FromMinutes(2);
        using var response = await client.PostAsync("/resync", null);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"POST /resync answered {(int)response.StatusCode}: {text}");
        var body = JsonNode.Parse(text)!;
        var failures = (body["failures"]?.AsArray() ?? []).Select(f => (string)f!).ToList();
        // Other tests' namespaces may be terminating (creates there are refused); ours must never fail.
        Assert.DoesNotContain(failures, f => namespaces.Any(ns => f.Contains($" {ns}/", StringComparison.Ordinal)));
        Assert.Empty(body["skippedKinds"]!.AsArray());
        return new ResyncResult((string)body["result"]!, (int)body["workloads"]!, (int)body["created"]!, (int)body["updated"]!,
            (int)body["deleted"]!, (int)body["failed"]!, (double)body["durationMs"]!);
    }

    /// <summary>
    /// Deletes the Images and our workloads with one DELETE of each collection, then the namespaces. Left to the
    /// rate-limited namespace controller, 2,000 half-deleted workloads would linger in the resyncs of the tests that
    /// follow; and the Images go first, so that the garbage collector, whose queue the tests that follow wait on, does
    /// not have thousands of dependents to delete one by one.
    /// </summary>
    private async Task RemoveAsync(string[] namespaces)
    {
        await DeleteCollectionsAsync(namespaces, ["apis/caching.internal.knative.dev/v1alpha1/namespaces/{0}/images"]);
        await DeleteCollectionsAsync(namespaces,
        [
            "apis/apps/v1/namespaces/{0}/deployments", "apis/apps/v1/namespaces/{0}/replicasets", "apis/apps/v1/namespaces/{0}/statefulsets",
            "apis/apps/v1/namespaces/{0}/daemonsets", "apis/batch/v1/namespaces/{0}/jobs", "apis/batch/v1beta1/namespaces/{0}/cronjobs",
        ]);
        await Kubectl.TryRunAsync($"delete namespace {string.Join(' ', namespaces)} --wait=false");
    }

    private Task DeleteCollectionsAsync(string[] namespaces, string[] collections) =>
        Parallel.ForEachAsync(
            namespaces.SelectMany(ns => collections.Select(c => string.Format(System.Globalization.CultureInfo.InvariantCulture, c, ns))),
            new ParallelOptions { MaxDegreeOfParallelism = 8 },
            async (path, _) => await Kubectl.TryRunAsync($"delete --raw /{path}"));

    private sealed record ResyncResult(string Result, int Workloads, int Created, int Updated, int Deleted, int Failed, double DurationMs);

    private void Trace(Stopwatch clock, string message) => output.WriteLine($"[{clock.Elapsed.TotalSeconds,6:0.0} s] {message}");
}
