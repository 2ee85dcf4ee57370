namespace Cachier.Http;

/// <summary>An HTTP request that could not be read as CloudEvents: the status to answer and why.</summary>
public sealed class BindingException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;
}

/// <summary>
/// Bytes of request bodies held at once, over all requests of the process. Each body is capped on its own
/// (<c>MaxRequestBodyBytes</c>), but forty near-limit bodies at once, decoded into CloudEvents, can take a small pod's
/// memory; past the budget a request is answered 503 + Retry-After (redelivered later) instead of running the process
/// out of memory. A request holds its share until it has been answered; its <see cref="Lease"/> reads the body. Taking a
/// share and reading the body are in <c>CloudEventBinding.cs</c>, with the binding that reads it; giving it back and
/// draining a refused body, here.
/// </summary>
public sealed partial class BodyBudget(long capacity)
{
    private long _used;

    public long Used => Interlocked.Read(ref _used);

    private void Give(long bytes) => Interlocked.Add(ref _used, -bytes);

    /// <summary>One request's share of the budget.</summary>
    public sealed partial class Lease(BodyBudget budget) : IDisposable
    {
        private long _held;

        /// <summary>
        /// Reads and throws away the rest of a body refused with 503 or 413 (at most twice the <paramref name="limit"/>; no memory kept),
        /// so that the sender, still writing it, gets the answer (and redelivers a 503). Left unread, Kestrel drains it only after the
        /// answer and for at most 5 s, then resets the connection; a busy pod missed that, and the sender saw a broken pipe
        /// instead of the answer (measured: a 503 in 1 of 4 runs of the 256 MiB test on the JIT build; a 413 in 1 of 2 clean-clone runs).
        /// </summary>
        private static async Task DrainAsync(HttpRequest request, int status, long limit, CancellationToken ct)
        {
            // A body somewhat over the limit is read to its end too (at most twice the limit), so its sender gets the 413.
            var maxBytes = 2 * limit;
            if (status == StatusCodes.Status413PayloadTooLarge
                && request.HttpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } feature)
            {
                feature.MaxRequestBodySize = maxBytes;
            }

            var chunk = System.Buffers.ArrayPool<byte>.Shared.Rent(16 * 1024);
            try
            {
                long total = 0;
                int read;
                while (total <= maxBytes && (read = await request.Body.ReadAsync(chunk, ct)) > 0)
                {
                    total += read;
                }
            }
            catch (Exception e) when (e is BadHttpRequestException or IOException or OperationCanceledException)
            {
                // The sender is gone, the body is malformed or over Kestrel's limit: nothing more to read, the answer stands.
            }
            finally
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(chunk);
            }
        }

        public void Dispose()
        {
            budget.Give(_held);
            _held = 0;
        }
    }
}
