using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Cachier.Domain;
using Cachier.Reconcile;

namespace Cachier.Kubernetes;

/// <summary>The warmer's calls (<see cref="IWarmApi"/>): nodes, Images with their status, pull pods, owners.</summary>
public sealed partial class KubeApi
{
    private static readonly MediaTypeHeaderValue JsonPatch = new("application/json-patch+json");

    public async Task<IReadOnlyList<WarmNode>> ListNodesAsync(CancellationToken ct)
    {
        var nodes = new List<WarmNode>();
        await foreach (var page in ListPagesAsync("/api/v1/nodes", null, null, WarmResources.ReadNode, ct))
        {
            nodes.AddRange(page);
        }

        return nodes;
    }

    public Task<WarmNode?> GetNodeAsync(string name, CancellationToken ct) =>
        GetOrNullAsync($"/api/v1/nodes/{name}", (doc, _) => WarmResources.ReadNode(doc.RootElement), ct);

    public IAsyncEnumerable<IReadOnlyList<WarmTarget>> ListImagesToWarmAsync(CancellationToken ct) =>
        ListPagesAsync($"{ImagesRoot}/images",
            string.IsNullOrWhiteSpace(settings.Options.Warmer.ImageSelector) ? null : settings.Options.Warmer.ImageSelector, null,
            WarmResources.ReadImage, ct);

    public async Task<IReadOnlyList<PullPod>> ListPullPodsAsync(CancellationToken ct)
    {
        var pods = new List<PullPod>();
        await foreach (var page in ListPagesAsync("/api/v1/pods", WarmResources.PullPodSelector(settings.PullPodTemplate.Scope), null, WarmResources.ReadPullPod, ct))
        {
            pods.AddRange(page);
        }

        return pods;
    }

    public async Task<Scheduling?> GetSchedulingAsync(string ns, OwnerRef owner, CancellationToken ct)
    {
        var slash = owner.ApiVersion.IndexOf('/', StringComparison.Ordinal);
        var (group, version) = slash < 0 ? ("", owner.ApiVersion) : (owner.ApiVersion[..slash], owner.ApiVersion[(slash + 1)..]);
        if (!Names.IsDnsLabel(version) || (group.Length > 0 && !Names.IsDnsSubdomain(group)) || !Names.IsDnsSubdomain(owner.Name))
        {
            return null;
        }

        var plural = ResourceKind.Find(settings.Kinds, owner.ApiVersion, owner.Kind)?.Plural ?? ResourceKind.GuessPlural(owner.Kind);
        var path = $"{new ResourceKind(owner.Kind, version, group, plural).CollectionPath(ns)}/{owner.Name}";
        // Gone, or a kind the warmer may not read (403): the Image is warmed on every untainted node.
        return await GetOrNullAsync(path, (doc, _) =>
            doc.RootElement.TryGetProperty("metadata", out var meta) && meta.TryGetProperty("uid", out var u) && u.GetString() == owner.Uid
                ? WarmResources.ReadScheduling(doc.RootElement)
                : null, ct, forbiddenIsNull: true);
    }

    public Task<WriteResult> CreatePullPodAsync(NewPullPod pod, CancellationToken ct) =>
        WriteAsync(HttpMethod.Post, $"/api/v1/namespaces/{pod.Namespace}/pods",
            Node(WarmResources.BuildPullPod(pod, settings.PullPodTemplate), Json), ct);

    /// <summary>A graceful delete (the pod's 1 s grace): a force delete would leave the kubelet tearing down a pod whose
    /// name a next pass may already reuse.</summary>
    public Task<WriteResult> DeletePullPodAsync(PullPod pod, CancellationToken ct) =>
        WriteAsync(HttpMethod.Delete, $"/api/v1/namespaces/{pod.Namespace}/pods/{pod.Name}",
            Node(new JsonObject
            {
                ["apiVersion"] = "v1",
                ["kind"] = "DeleteOptions",
                ["preconditions"] = new JsonObject { ["uid"] = pod.Uid },
            }, Json), ct);

    public Task<WriteResult> WriteStatusAsync(StatusWrite write, CancellationToken ct) =>
        WriteAsync(HttpMethod.Patch, $"{ImagesRoot}/namespaces/{write.Namespace}/images/{write.Name}/status",
            Node(WarmResources.BuildStatusPatch(write.Status), JsonPatch), ct);

    private static Body Node(JsonNode node, MediaTypeHeaderValue mediaType) =>
        new(Encoding.UTF8.GetBytes(node.ToJsonString()), mediaType);
}
