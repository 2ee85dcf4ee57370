using System.Globalization;
using System.Text.Json.Nodes;

namespace Cachier.Tests.Support;

/// <summary>
/// The tests' one builder of API objects as the API server serves them (for a fake API server: uids, resourceVersions,
/// generations), the Images the SPEC (section 4) says Cachier writes, and the assertions on what it wrote.
/// Manifests to create on the real API server are Workloads'.
/// </summary>
public static partial class Objects
{
    public const string Ns = "demo";
    public const string ManagedBy = "app.kubernetes.io/managed-by";

    public static string Generation(long generation) => generation.ToString("00000", CultureInfo.InvariantCulture);

    /// <summary>A PodSpecable workload (<c>spec.template.spec</c>) of any kind.</summary>
    public static JsonObject Workload(string apiVersion, string kind, string name, string uid, long generation, string[] containers,
        string[]? initContainers = null, string? serviceAccount = null, string[]? pullSecrets = null, string? decorate = null,
        JsonObject? controlledBy = null, string ns = Ns, bool typed = true)
    {
        var pod = new JsonObject
        {
            ["containers"] = Containers("c", containers),
            ["restartPolicy"] = "Always",
        };
        if (initContainers is not null)
        {
            pod["initContainers"] = Containers("init", initContainers);
        }

        if (serviceAccount is not null)
        {
            pod["serviceAccountName"] = serviceAccount;
            pod["serviceAccount"] = serviceAccount;
        }

        if (pullSecrets is not null)
        {
            pod["imagePullSecrets"] = new JsonArray(pullSecrets.Select(s => (JsonNode)new JsonObject { ["name"] = s }).ToArray());
        }

        var metadata = new JsonObject
        {
            ["name"] = name,
            ["namespace"] = ns,
            ["uid"] = uid,
            ["resourceVersion"] = "4711",
            ["generation"] = generation,
            ["labels"] = new JsonObject { ["app"] = name },
        };
        if (decorate is not null)
        {
            metadata["annotations"] = new JsonObject { ["cachier.mattmoor.io/decorate"] = decorate };
        }

        if (controlledBy is not null)
        {
            metadata["ownerReferences"] = new JsonArray(controlledBy);
        }

        var workload = new JsonObject();
        if (typed)
        {
            // Items of a LIST of built-in kinds carry neither.
            workload["apiVersion"] = apiVersion;
            workload["kind"] = kind;
        }

        workload["metadata"] = metadata;
        workload["spec"] = new JsonObject
        {
            ["replicas"] = 1,
            ["selector"] = new JsonObject { ["matchLabels"] = new JsonObject { ["app"] = name } },
            ["template"] = new JsonObject { ["metadata"] = new JsonObject { ["labels"] = new JsonObject { ["app"] = name } }, ["spec"] = pod },
        };
        workload["status"] = new JsonObject { ["observedGeneration"] = generation, ["replicas"] = 1 };
        return workload;
    }

    public static JsonObject Deployment(string name, string uid, long generation, string[] containers, string[]? initContainers = null,
        string? serviceAccount = null, string[]? pullSecrets = null, string? decorate = null, JsonObject? controlledBy = null, bool typed = true, string ns = Ns) =>
        Workload("apps/v1", "Deployment", name, uid, generation, containers, initContainers, serviceAccount, pullSecrets, decorate, controlledBy, ns, typed);

    public static JsonObject ControllerRef(string apiVersion, string kind, string name, string uid) => new()
    {
        ["apiVersion"] = apiVersion,
        ["kind"] = kind,
        ["name"] = name,
        ["uid"] = uid,
        ["controller"] = true,
        ["blockOwnerDeletion"] = true,
    };

    /// <summary>The labels Cachier puts on an Image written at <paramref name="generation"/>.</summary>
    public static Dictionary<string, string> OurLabels(string uid, long generation) => new()
    {
        ["controller"] = uid,
        ["generation"] = Generation(generation),
        [ManagedBy] = "cachier",
    };

    /// <summary>An Image as the API server lists it (uid and resourceVersion null: left to a stateful fake to assign).</summary>
    public static JsonObject Image(string name, string? imageUid, string? resourceVersion, string image, IReadOnlyDictionary<string, string> labels,
        JsonObject? owner, string? serviceAccount = null, string[]? pullSecrets = null, string ns = Ns)
    {
        var metadata = new JsonObject { ["name"] = name, ["namespace"] = ns };
        if (imageUid is not null)
        {
            metadata["uid"] = imageUid;
        }

        if (resourceVersion is not null)
        {
            metadata["resourceVersion"] = resourceVersion;
        }

        metadata["generation"] = 1;
        metadata["labels"] = new JsonObject(labels.Select(l => KeyValuePair.Create(l.Key, (JsonNode?)l.Value)));
        if (owner is not null)
        {
            metadata["ownerReferences"] = new JsonArray(owner.DeepClone());
        }

        var spec = new JsonObject { ["image"] = image };
        if (serviceAccount is not null)
        {
            spec["serviceAccountName"] = serviceAccount;
        }

        if (pullSecrets is not null)
        {
            spec["imagePullSecrets"] = new JsonArray(pullSecrets.Select(s => (JsonNode)new JsonObject { ["name"] = s }).ToArray());
        }

        return new JsonObject
        {
            ["apiVersion"] = "caching.internal.knative.dev/v1alpha1",
            ["kind"] = "Image",
            ["metadata"] = metadata,
            ["spec"] = spec,
        };
    }

    /// <summary>The Image Cachier would have written for <paramref name="image"/> of <paramref name="workload"/>, as listed back.</summary>
    public static JsonObject OurImage(JsonObject workload, string image, string imageUid, string resourceVersion, long? labelGeneration = null)
    {
        var (name, uid, generation) = Identity(workload);
        var pod = PodSpec(workload);
        return Image(ExpectedNames.Image(name, uid, image), imageUid, resourceVersion, image, OurLabels(uid, labelGeneration ?? generation),
            Owner(workload), (string?)pod["serviceAccountName"],
            pod["imagePullSecrets"]?.AsArray().Select(s => (string)s!["name"]!).ToArray(), (string)workload["metadata"]!["namespace"]!);
    }

    /// <summary>
    /// The Image Cachier writes for <paramref name="image"/> of Deployment <paramref name="workloadName"/> at
    /// <paramref name="generation"/>, for seeding a stateful fake API server (which assigns uid and resourceVersion).
    /// </summary>
    public static JsonObject OurImage(string workloadName, string uid, long generation, string image, string? serviceAccount = null) =>
        Image(ExpectedNames.Image(workloadName, uid, image), null, null, image, OurLabels(uid, generation),
            ControllerRef("apps/v1", "Deployment", workloadName, uid), serviceAccount);

    public static JsonObject Owner(JsonObject workload)
    {
        var (name, uid, _) = Identity(workload);
        return ControllerRef((string)workload["apiVersion"]!, (string)workload["kind"]!, name, uid);
    }

    public static (string Name, string Uid, long Generation) Identity(JsonObject workload)
    {
        var metadata = workload["metadata"]!;
        var generation = metadata["generation"] is { } g ? long.Parse(g.ToJsonString(), CultureInfo.InvariantCulture) : 0;
        return ((string)metadata["name"]!, (string)metadata["uid"]!, generation);
    }

    private static JsonObject PodSpec(JsonObject workload) => workload["spec"]!["template"]!["spec"]!.AsObject();

    private static JsonArray Containers(string prefix, string[] images) =>
        new(images.Select((image, i) => (JsonNode)new JsonObject { ["name"] = $"{prefix}{i}", ["image"] = image }).ToArray());

    // ---- assertions on what Cachier wrote ---------------------------------------------------------------

    /// <summary>A POST of the complete Image of SPEC section 4 for <paramref name="image"/>.</summary>
    public static void AssertCreates(ApiCall call, JsonObject workload, string image, string? serviceAccount = null, string[]? pullSecrets = null)
    {
        var (name, uid, generation) = Identity(workload);
        var ns = (string)workload["metadata"]!["namespace"]!;
        Assert.Equal("POST", call.Method);
        Assert.Equal(AppHost.ImagesPath(ns), call.Path);
        Assert.Equal("", call.Query);
        Assert.StartsWith("application/json", call.ContentType);

        var body = call.Json;
        Assert.Equal("caching.internal.knative.dev/v1alpha1", (string?)body["apiVersion"]);
        Assert.Equal("Image", (string?)body["kind"]);
        var metadata = body["metadata"]!.AsObject();
        Assert.Equal(ExpectedNames.Image(name, uid, image), (string?)metadata["name"]);
        Assert.Null(metadata["generateName"]);
        Assert.Equal(ns, (string?)metadata["namespace"]);
        AssertLabels(metadata, uid, generation);

        var owners = metadata["ownerReferences"]!.AsArray();
        var owner = Assert.Single(owners)!.AsObject();
        Assert.Equal((string)workload["apiVersion"]!, (string?)owner["apiVersion"]);
        Assert.Equal((string)workload["kind"]!, (string?)owner["kind"]);
        Assert.Equal(name, (string?)owner["name"]);
        Assert.Equal(uid, (string?)owner["uid"]);
        Assert.True((bool?)owner["controller"]);
        Assert.True((bool?)owner["blockOwnerDeletion"]);

        var spec = body["spec"]!.AsObject();
        Assert.Equal(image, (string?)spec["image"]);
        AssertPullSpec(spec, serviceAccount, pullSecrets, omitWhenEmpty: true);
    }

    /// <summary>A JSON merge patch of the named Image, conditional on the listed resourceVersion.</summary>
    public static JsonObject AssertPatches(ApiCall call, string imageName, string resourceVersion, string uid, long generation, string ns = Ns)
    {
        Assert.Equal("PATCH", call.Method);
        Assert.Equal(AppHost.ImagePath(ns, imageName), call.Path);
        Assert.StartsWith("application/merge-patch+json", call.ContentType);
        var body = call.Json;
        var metadata = body["metadata"]!.AsObject();
        Assert.Equal(resourceVersion, (string?)metadata["resourceVersion"]);
        AssertLabels(metadata, uid, generation);
        return body;
    }

    /// <summary>A DELETE of the named Image with uid and resourceVersion preconditions.</summary>
    public static void AssertDeletes(ApiCall call, string imageName, string imageUid, string resourceVersion, string ns = Ns)
    {
        Assert.Equal("DELETE", call.Method);
        Assert.Equal(AppHost.ImagePath(ns, imageName), call.Path);
        var preconditions = call.Json["preconditions"]!.AsObject();
        Assert.Equal(imageUid, (string?)preconditions["uid"]);
        Assert.Equal(resourceVersion, (string?)preconditions["resourceVersion"]);
    }

    /// <summary>serviceAccountName and imagePullSecrets; in a merge patch an empty value must be an explicit null (removal).</summary>
    public static void AssertPullSpec(JsonObject spec, string? serviceAccount, string[]? pullSecrets, bool omitWhenEmpty)
    {
        if (serviceAccount is null)
        {
            if (omitWhenEmpty)
            {
                Assert.False(spec.ContainsKey("serviceAccountName"), "serviceAccountName must be omitted when empty");
            }
            else
            {
                Assert.True(spec.ContainsKey("serviceAccountName") && spec["serviceAccountName"] is null, "the merge patch must remove serviceAccountName (null)");
            }
        }
        else
        {
            Assert.Equal(serviceAccount, (string?)spec["serviceAccountName"]);
        }

        if (pullSecrets is not { Length: > 0 })
        {
            if (omitWhenEmpty)
            {
                Assert.False(spec.ContainsKey("imagePullSecrets"), "imagePullSecrets must be omitted when empty");
            }
            else
            {
                Assert.True(spec.ContainsKey("imagePullSecrets") && spec["imagePullSecrets"] is null, "the merge patch must remove imagePullSecrets (null)");
            }
        }
        else
        {
            var secrets = spec["imagePullSecrets"]!.AsArray();
            Assert.Equal(pullSecrets, secrets.Select(s => (string)s!["name"]!).ToArray());
        }
    }

    private static void AssertLabels(JsonObject metadata, string uid, long generation)
    {
        var labels = metadata["labels"]!.AsObject().ToDictionary(l => l.Key, l => (string?)l.Value);
        Assert.Equal(uid, labels.GetValueOrDefault("controller"));
        Assert.Equal(Generation(generation), labels.GetValueOrDefault("generation"));
        Assert.Equal("cachier", labels.GetValueOrDefault(ManagedBy));
    }
}
