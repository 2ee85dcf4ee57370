using Cachier.Domain;

namespace Cachier.Reconcile;

/// <summary>The writes of a reconcile: the diff, and each create, update and delete with its answer to 409.</summary>
public sealed partial class ImageReconciler
{
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
        var (keep, surplus) = ImageMatch.Match(plan, existing);
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
                        return Outcome.For(OutcomeResult.Gone, plan.Owner.Ref, $"namespace {plan.Owner.Namespace} no longer exists");
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
        foreach (var stay in ImageMatch.Relabel(plan, unchanged, tally.Written, tally.Deleted))
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
        return new Outcome(notOwned.Count > 0 ? OutcomeResult.NotOwned : OutcomeResult.Reconciled,
            plan.Owner.Kind, plan.Owner.Namespace, plan.Owner.Name,
            notOwned.Count > 0 ? "an Image of the same name belongs to another owner" : null,
            tally.Created, tally.Updated + relabeled, tally.Deleted, Math.Max(0, unchanged.Count - relabeled - before), notOwned.Count > 0 ? notOwned : null);
    }

    private enum Created { Done, TakenByUs, TakenByOther, NamespaceGone }

    /// <returns>Done; the name taken by our Image (returned) or by someone else's; or the namespace is gone.</returns>
    private Task<(Created Result, ImageState? Ours)> CreateAsync(ImagePlan plan, DesiredImage want, CancellationToken ct) =>
        RetryFromFreshReadAsync<(Created, ImageState?)>("POST", plan.Owner.Namespace, want.Name, null,
            _ => api.CreateImageAsync(plan, want, ct),
            // A create is answered 404 only when its namespace is gone (or going): retrying cannot help.
            written => written == WriteResult.Done ? (Created.Done, null) : (Created.NamespaceGone, null),
            // Deleted between our create and our read: try again. Ours even if its image was edited: the caller updates it.
            found => found is null ? null : found.BelongsTo(plan.Owner.Uid) ? (Created.TakenByUs, found) : (Created.TakenByOther, null),
            ct);

    private enum Updated { Done, Vanished, Superseded }

    /// <summary>
    /// Vanished: the Image is gone (404, or not found on the re-read); Superseded: a newer generation of the workload
    /// wrote it meanwhile (that pass decides, not this one).
    /// </summary>
    private Task<Updated> UpdateAsync(ImagePlan plan, ImageState current, DesiredImage? want, CancellationToken ct) =>
        RetryFromFreshReadAsync("PATCH", current.Namespace, current.Name, current,
            image => api.UpdateImageAsync(plan, image!, want, ct),
            written => written == WriteResult.Done ? Updated.Done : Updated.Vanished,
            fresh => fresh is null ? Updated.Vanished : fresh.Generation > plan.Owner.Generation ? Updated.Superseded : null,
            ct);

    /// <summary>
    /// Deletes with preconditions; 404 is fine. The fresh read after a 409 stops the delete when the Image is gone or
    /// replaced, or when a newer generation of the workload wrote it meanwhile (then that pass decides, not this older one).
    /// </summary>
    private Task<bool> DeleteAsync(ImageState image, long generation, CancellationToken ct) =>
        RetryFromFreshReadAsync("DELETE", image.Namespace, image.Name, image,
            current => api.DeleteImageAsync(current!, ct),
            written => written == WriteResult.Done,
            fresh => fresh is null || fresh.Uid != image.Uid || fresh.Generation > generation ? false : null,
            ct);

    /// <summary>
    /// Optimistic concurrency, once for every write: write; on 409 read the Image afresh and let <paramref name="stop"/>
    /// answer from it, or write again against the fresh read; bounded by <see cref="MaxAttempts"/>.
    /// </summary>
    /// <param name="answer">the answer to a write that did not meet 409 (done or 404).</param>
    /// <param name="stop">the answer the fresh read gives, or null to write again with it.</param>
    private async Task<T> RetryFromFreshReadAsync<T>(string verb, string ns, string name, ImageState? current,
        Func<ImageState?, Task<WriteResult>> write, Func<WriteResult, T> answer, Func<ImageState?, T?> stop, CancellationToken ct)
        where T : struct
    {
        for (var attempt = 0; attempt < MaxAttempts; attempt++)
        {
            var written = await write(current);
            if (written != WriteResult.Conflict)
            {
                return answer(written);
            }

            var fresh = await api.GetImageAsync(ns, name, ct);
            if (stop(fresh) is { } stopped)
            {
                return stopped;
            }

            current = fresh;
        }

        throw new ApiException(verb, name, 409, $"Image {name} kept changing under {MaxAttempts} attempts");
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
}
