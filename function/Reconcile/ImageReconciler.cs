using Cachier.Domain;

namespace Cachier.Reconcile;

public enum WorkloadAction { Add, Update, Delete }

/// <summary>A workload event, already validated: the edge turned the CloudEvent into this.</summary>
public sealed record WorkloadEvent(WorkloadAction Action, WorkloadRef Ref, Workload? Object);

/// <summary>LIST, diff, and write only the difference (SPEC section 5).</summary>
public sealed class ImageReconciler(IClusterApi api, CachierSettings settings, PlanMemo memo, KeyedLock locks)
{
    private const int MaxAttempts = 3;

    /// <summary>Events and the resync serialise on the same key for one workload.</summary>
    public static string LockKey(WorkloadRef target) => $"{target.ApiVersion}/{target.Kind}/{target.Namespace}/{target.Name}";

    public async Task<Outcome> ReconcileAsync(WorkloadEvent ev, CancellationToken ct)
    {
        var target = ev.Ref;
        var kind = settings.FindKind(target.ApiVersion, target.Kind);
        if (kind is null)
        {
            return Outcome.For(Outcome.Ignored, target, $"kind {target.Kind} of {target.ApiVersion} is not configured");
        }

        if (ev.Action == WorkloadAction.Delete)
        {
            // Garbage collection removes the Images through their ownerReferences.
            return Outcome.For(Outcome.DeletedResult, target, "garbage collection removes the Images");
        }

        if (settings.ExcludedNamespaces.Contains(target.Namespace))
        {
            return Outcome.For(Outcome.Ignored, target, $"namespace {target.Namespace} is excluded");
        }

        using var held = await locks.AcquireAsync(LockKey(target), ct);
        try
        {
            // The object an event carries is a claim: anything that reaches the Service could have written it. It stands
            // in for a GET only when the operator trusts embedded objects (which requires sender authentication).
            var embedded = settings.Options.TrustEmbeddedObjects ? ev.Object : null;
            var workload = embedded ?? await api.GetWorkloadAsync(kind, target.Namespace, target.Name, ct);
            return workload is null
                ? Outcome.For(Outcome.Gone, target, "the workload no longer exists")
                : await ApplyAsync(workload, indexed: null, ct, verifyAs: embedded is null ? null : kind);
        }
        catch (ApiException e)
        {
            return Outcome.FromApiError(target, e);
        }
    }

    /// <summary>
    /// Brings one workload's Images to its plan. <paramref name="indexed"/> = its Images as the resync
    /// already listed them (then neither the memo nor a LIST is used); null = LIST them here.
    /// <paramref name="verifyAs"/>: the workload came embedded in an event, as this kind: before its generation is
    /// written above what was applied, it is read from the API server, so one event cannot push the stale guard past
    /// the object's real generation (and freeze the workload).
    /// </summary>
    public async Task<Outcome> ApplyAsync(Workload workload, IReadOnlyList<ImageState>? indexed, CancellationToken ct, ResourceKind? verifyAs = null)
    {
        var target = workload.Ref;
        if (workload.Pod is null)
        {
            return Outcome.For(Outcome.Ignored, target, $"no pod spec at {Kubernetes.WorkloadReader.Shapes}");
        }

        var plan = ImagePlanner.Plan(workload, settings.Filters);
        var print = PlanMemo.Fingerprint(plan);
        if (indexed is null && memo.Matches(workload.Uid, print))
        {
            return Outcome.For(plan.Cache ? Outcome.Reconciled : Outcome.Disabled, target, "unchanged since last applied")
                with
            { Unchanged = plan.Images.Count };
        }

        memo.Forget(workload.Uid);
        var existing = indexed ?? await api.ListImagesAsync(workload.Namespace, workload.Uid, ct);
        if (existing.FirstOrDefault(i => i.Generation > workload.Generation) is { } newer)
        {
            return Outcome.For(Outcome.Stale, target,
                $"generation {workload.Generation} is older than {newer.Generation} already applied to Image {newer.Name}");
        }

        if (verifyAs is not null && !(workload.Generation <= existing.Max(i => i.Generation)))
        {
            // Would write a generation never applied before: only the API server's object may do that.
            var real = await api.GetWorkloadAsync(verifyAs, target.Namespace, target.Name, ct);
            if (real is null)
            {
                return Outcome.For(Outcome.Gone, target, "the workload no longer exists");
            }

            if (real.Uid != workload.Uid || real.Generation != workload.Generation)
            {
                return await ApplyAsync(real, indexed: null, ct);
            }
        }

        var outcome = plan.Cache
            ? await DiffAsync(plan, existing, ct)
            : Outcome.For(Outcome.Disabled, target, plan.Reason) with { Deleted = await DeleteAllAsync(existing, workload.Generation, ct) };
        if (outcome.Result is Outcome.Reconciled or Outcome.Disabled)
        {
            memo.Remember(workload.Uid, print);
        }

        return outcome;
    }

    /// <summary>
    /// Writes the difference. An Image the LIST showed that is gone when written (404, or 409 and then not found) means
    /// the LIST is out of date: the Images are listed again and the fresh difference applied, bounded; nothing is
    /// re-created on the strength of the old LIST.
    /// </summary>
    private async Task<Outcome> DiffAsync(ImagePlan plan, IReadOnlyList<ImageState> existing, CancellationToken ct)
    {
        var written = new Tally();
        for (var attempt = 1; ; attempt++)
        {
            var outcome = await DiffOnceAsync(plan, existing, written, ct);
            if (outcome is not null)
            {
                return outcome;
            }

            if (attempt >= MaxAttempts)
            {
                throw new ApiException("LIST", plan.Owner.Namespace, 409, $"Images of {plan.Owner.Ref} kept vanishing under {MaxAttempts} attempts");
            }

            existing = await api.ListImagesAsync(plan.Owner.Namespace, plan.Owner.Uid, ct);
        }
    }

    private sealed class Tally
    {
        public int Created;
        public int Updated;
        public int Deleted;

        /// <summary>Images created or updated (deletes aside).</summary>
        public int Written => Created + Updated;
    }

    /// <returns>The outcome; null when an Image of <paramref name="existing"/> vanished (list again).</returns>
    private async Task<Outcome?> DiffOnceAsync(ImagePlan plan, IReadOnlyList<ImageState> existing, Tally tally, CancellationToken ct)
    {
        var (keep, surplus) = Match(plan, existing);
        var before = tally.Written;
        var notOwned = new List<string>();
        var unchanged = new List<ImageState>();
        foreach (var want in plan.Images)
        {
            if (!keep.TryGetValue(want.Image, out var current))
            {
                var (result, found) = await CreateAsync(plan, want, ct);
                switch (result)
                {
                    case Created.Done:
                        tally.Created++;
                        continue;
                    case Created.NamespaceGone:
                        return Outcome.For(Outcome.Gone, plan.Owner.Ref, $"namespace {plan.Owner.Namespace} no longer exists");
                    case Created.TakenByOther:
                        notOwned.Add(want.Image);
                        continue;
                }

                current = found!;
            }

            if (current.SameSpec(want))
            {
                unchanged.Add(current);
                continue;
            }

            switch (await UpdateAsync(plan, current, want, ct))
            {
                case Updated.Done:
                    tally.Updated++;
                    break;
                case Updated.Vanished:
                    return null;
            }
        }

        foreach (var extra in surplus)
        {
            tally.Deleted += await DeleteAsync(extra, plan.Owner.Generation, ct) ? 1 : 0;
        }

        var relabeled = 0;
        foreach (var stay in Relabel(plan, unchanged, tally.Written, tally.Deleted))
        {
            switch (await UpdateAsync(plan, stay, null, ct))
            {
                case Updated.Done:
                    relabeled++;
                    break;
                case Updated.Vanished:
                    tally.Updated += relabeled;
                    return null;
            }
        }

        // What an earlier pass wrote, this pass found unchanged: count it once.
        return new Outcome(notOwned.Count > 0 ? Outcome.NotOwnedResult : Outcome.Reconciled,
            plan.Owner.Kind, plan.Owner.Namespace, plan.Owner.Name,
            notOwned.Count > 0 ? "an Image of the same name belongs to another owner" : null,
            tally.Created, tally.Updated + relabeled, tally.Deleted, Math.Max(0, unchanged.Count - relabeled - before), notOwned.Count > 0 ? notOwned : null);
    }

    /// <summary>
    /// One keeper per desired image: the Image of its name (ours even when its image was edited: it is updated), else
    /// the oldest-named one carrying that image (adopted, say from the original cachier). The rest is surplus.
    /// </summary>
    private static (Dictionary<string, ImageState> Keep, List<ImageState> Surplus) Match(ImagePlan plan, IReadOnlyList<ImageState> existing)
    {
        var keep = new Dictionary<string, ImageState>(StringComparer.Ordinal);
        var kept = new HashSet<ImageState>(ReferenceEqualityComparer.Instance);
        foreach (var want in plan.Images)
        {
            if (existing.FirstOrDefault(i => i.Name == want.Name) is { } named)
            {
                keep[want.Image] = named;
                kept.Add(named);
            }
        }

        foreach (var want in plan.Images.Where(w => !keep.ContainsKey(w.Image)))
        {
            if (existing.Where(i => i.Image == want.Image && !kept.Contains(i)).OrderBy(i => i.Name, StringComparer.Ordinal).FirstOrDefault() is { } adopted)
            {
                keep[want.Image] = adopted;
                kept.Add(adopted);
            }
        }

        var surplus = existing.GroupBy(i => i.Image, StringComparer.Ordinal).SelectMany(g => g.Where(i => !kept.Contains(i))).ToList();
        return (keep, surplus);
    }

    /// <summary>
    /// Keeps the stale guard exact while writing only what changed: the guard compares the workload's generation
    /// with the highest <c>generation</c> label, and every created or updated Image already carries the current one.
    /// Only a pass that deleted and wrote nothing else relabels one kept Image (unless one is current already).
    /// Images left by the original cachier are adopted (given Cachier's labels) whenever anything is written.
    /// </summary>
    private static List<ImageState> Relabel(ImagePlan plan, List<ImageState> unchanged, int written, int deleted)
    {
        if (written + deleted == 0)
        {
            return [];
        }

        var relabel = unchanged.Where(i => !i.Managed).ToList();
        if (written == 0 && relabel.Count == 0 && unchanged.Count > 0 && !unchanged.Any(i => i.Generation == plan.Owner.Generation))
        {
            relabel.Add(unchanged[0]);
        }

        return relabel;
    }

    private enum Created { Done, TakenByUs, TakenByOther, NamespaceGone }

    /// <returns>Done; the name taken by our Image (returned) or by someone else's; or the namespace is gone.</returns>
    private async Task<(Created Result, ImageState? Ours)> CreateAsync(ImagePlan plan, DesiredImage want, CancellationToken ct)
    {
        for (var attempt = 0; attempt < MaxAttempts; attempt++)
        {
            switch (await api.CreateImageAsync(plan, want, ct))
            {
                case WriteResult.Done:
                    return (Created.Done, null);
                case WriteResult.NotFound:
                    // A create is answered 404 only when its namespace is gone (or going): retrying cannot help.
                    return (Created.NamespaceGone, null);
            }

            var found = await api.GetImageAsync(plan.Owner.Namespace, want.Name, ct);
            if (found is not null)
            {
                // Ours even if its image was edited: the caller updates it.
                return found.BelongsTo(plan.Owner.Uid) ? (Created.TakenByUs, found) : (Created.TakenByOther, null);
            }

            // Deleted between our create and our read: try again.
        }

        throw Contention("POST", want.Name);
    }

    private enum Updated { Done, Vanished, Superseded }

    /// <summary>
    /// Optimistic concurrency: on 409 re-read and retry, bounded. Vanished: the Image is gone (404, or not found on the
    /// re-read); Superseded: a newer generation of the workload wrote it meanwhile (that pass decides, not this one).
    /// </summary>
    private async Task<Updated> UpdateAsync(ImagePlan plan, ImageState current, DesiredImage? want, CancellationToken ct)
    {
        for (var attempt = 0; attempt < MaxAttempts; attempt++)
        {
            switch (await api.UpdateImageAsync(plan, current, want, ct))
            {
                case WriteResult.Done:
                    return Updated.Done;
                case WriteResult.NotFound:
                    return Updated.Vanished;
            }

            if (await api.GetImageAsync(current.Namespace, current.Name, ct) is not { } fresh)
            {
                return Updated.Vanished;
            }

            if (fresh.Generation > plan.Owner.Generation)
            {
                return Updated.Superseded;
            }

            current = fresh;
        }

        throw Contention("PATCH", current.Name);
    }

    /// <summary>
    /// Deletes with preconditions; 404 is fine; on 409 re-read and retry, bounded, unless the fresh read shows that a newer
    /// generation of the workload wrote the Image meanwhile (then that pass decides, not this older one).
    /// </summary>
    private async Task<bool> DeleteAsync(ImageState image, long generation, CancellationToken ct)
    {
        for (var attempt = 0; attempt < MaxAttempts; attempt++)
        {
            switch (await api.DeleteImageAsync(image, ct))
            {
                case WriteResult.Done:
                    return true;
                case WriteResult.NotFound:
                    return false;
            }

            if (await api.GetImageAsync(image.Namespace, image.Name, ct) is not { } fresh || fresh.Uid != image.Uid || fresh.Generation > generation)
            {
                return false;
            }

            image = fresh;
        }

        throw Contention("DELETE", image.Name);
    }

    private async Task<int> DeleteAllAsync(IReadOnlyList<ImageState> images, long generation, CancellationToken ct)
    {
        var deleted = 0;
        foreach (var image in images)
        {
            deleted += await DeleteAsync(image, generation, ct) ? 1 : 0;
        }

        return deleted;
    }

    private static ApiException Contention(string verb, string name) =>
        new(verb, name, 409, $"Image {name} kept changing under {MaxAttempts} attempts");
}
