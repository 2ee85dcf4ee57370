using Cachier.Domain;

namespace Cachier.Manifests;

/// <summary>What the manifests are made from: the watched kinds, the image and the namespace.</summary>
public sealed record ManifestOptions(IReadOnlyList<ResourceKind> Kinds, string Image, string Namespace)
{
    public const string DefaultImage = "registry.example.com/cachier:latest";
    public const string DefaultNamespace = "cachier-system";
}

/// <summary>
/// The API access of each role, one list per role: what the ClusterRoles grant. Each entry is a call the code sends
/// (Cachier.Tests compares these with the calls the app makes against a fake API server, and with the API server's
/// own authorizer), plus the one grant that is not a call: <c>update</c> on the owner's <c>finalizers</c>, which the
/// <c>OwnerReferencesPermissionEnforcement</c> admission plugin asks of whoever sets <c>blockOwnerDeletion</c>.
/// </summary>
public static class ApiAccess
{
    public const string ImagesGroup = "caching.internal.knative.dev";

    /// <summary>Cachier on the watched kinds: GET the workload an event names, LIST each kind in a resync.</summary>
    public static readonly string[] WorkloadVerbs = ["get", "list"];

    /// <summary>
    /// Cachier on Images: LIST (per workload and cluster-wide), GET (re-read after a 409), create, merge-patch,
    /// delete with preconditions. Never update (PUT) nor deletecollection.
    /// </summary>
    public static readonly string[] ImageVerbs = ["get", "list", "create", "patch", "delete"];

    /// <summary>
    /// Cachier sets <c>blockOwnerDeletion</c> on the Image's owner reference (SPEC section 4): a foreground deletion of the
    /// workload then waits until its Images are gone, as Kubernetes' own controllers do for what they own. Where the
    /// OwnerReferencesPermissionEnforcement admission plugin is on (OpenShift), that takes <c>update</c> on
    /// <c>&lt;kind&gt;/finalizers</c> of the owner; no API path serves that subresource for the workload kinds, so the
    /// grant allows nothing else.
    /// </summary>
    public static readonly string[] OwnerFinalizerVerbs = ["update"];

    /// <summary>
    /// Cachier on core/v1 Events: create one on a workload it changed (or could not), patch its count and lastTimestamp
    /// when the same note repeats (aggregation, as client-go's recorder does). Never get, list, update or delete.
    /// </summary>
    public static readonly string[] EventVerbs = ["create", "patch"];

    /// <summary>The ApiServerSource's receive adapter: what Knative checks before it starts it.</summary>
    public static readonly string[] SourceVerbs = ["get", "list", "watch"];

    /// <summary>The warmer on the Images' owners: GET for their pods' scheduling.</summary>
    public static readonly string[] WarmerOwnerVerbs = ["get"];
}
