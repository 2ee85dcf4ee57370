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
/// out of memory. A request holds its share until it has been answered; its <see cref="Lease"/> reads the body.
/// </summary>
public sealed class BodyBudget(long capacity)
{
    private long _used;

    public long Used => Interlocked.Read(ref _used);

    public Lease Open() => new(this);

    private bool TryTake(long bytes)
    {
        while (true)
        {
            var used = Interlocked.Read(ref _used);
            if (used + bytes > capacity)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _used, used + bytes, used) == used)
            {
                return true;
            }
        }
    }

    private void Give(long bytes) => Interlocked.Add(ref _used, -bytes);

    /// <summary>One request's share of the budget.</summary>
    public sealed class Lease(BodyBudget budget) : IDisposable
    {
        private long _held;

        /// <exception cref="BindingException">503: the budget is spent by other requests for now.</exception>
        public void Take(long bytes)
        {
            if (!budget.TryTake(bytes))
            {
                throw new BindingException(StatusCodes.Status503ServiceUnavailable, "too many large requests at once; redeliver the event");
            }

            _held += bytes;
        }

        /// <summary>The whole body (at most <paramref name="maxBytes"/>), its share taken from the budget as it is read.</summary>
        /// <exception cref="BindingException">413 (too large), 400 (longer than its Content-Length, malformed), or 503 (budget spent).</exception>
        public async Task<ReadOnlyMemory<byte>> ReadBodyAsync(HttpRequest request, long maxBytes, CancellationToken ct)
        {
            try
            {
                return await ReadBudgetedBodyAsync(request, maxBytes, ct);
            }
            catch (BindingException e) when (e.Status is StatusCodes.Status503ServiceUnavailable or StatusCodes.Status413PayloadTooLarge)
            {
                // A body somewhat over the limit is read to its end too (at most twice the limit), so its sender gets the 413.
                if (e.Status == StatusCodes.Status413PayloadTooLarge
                    && request.HttpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
                {
                    limit.MaxRequestBodySize = 2 * maxBytes;
                }

                await DrainAsync(request, 2 * maxBytes, ct);
                throw;
            }
        }

        private async Task<ReadOnlyMemory<byte>> ReadBudgetedBodyAsync(HttpRequest request, long maxBytes, CancellationToken ct)
        {
            if (request.ContentLength > maxBytes)
            {
                throw new BindingException(413, $"body of {request.ContentLength} bytes is over the limit of {maxBytes} bytes");
            }

            // The decoded events hold about as much again as the body: a request takes twice its body from the budget.
            Take(2 * (request.ContentLength ?? 0));
            using var buffer = new MemoryStream((int)(request.ContentLength ?? 0));
            var chunk = new byte[16 * 1024];
            try
            {
                int read;
                while ((read = await request.Body.ReadAsync(chunk, ct)) > 0)
                {
                    if (buffer.Length + read > maxBytes)
                    {
                        throw new BindingException(413, $"body is over the limit of {maxBytes} bytes");
                    }

                    if (buffer.Length + read > request.ContentLength)
                    {
                        throw new BindingException(400, "body is longer than its Content-Length");
                    }

                    if (request.ContentLength is null)
                    {
                        Take(2 * read);
                    }

                    buffer.Write(chunk, 0, read);
                }
            }
            catch (BadHttpRequestException e)
            {
                // Kestrel's own MaxRequestBodySize, or a malformed chunked body.
                throw new BindingException(e.StatusCode, $"body could not be read: {e.Message}");
            }

            return buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
        }

        /// <summary>
        /// Reads and throws away the rest of a body refused with 503 or 413 (at most <paramref name="maxBytes"/>; no memory kept),
        /// so that the sender, still writing it, gets the answer (and redelivers a 503). Left unread, Kestrel drains it only after the
        /// answer and for at most 5 s, then resets the connection; a busy pod missed that, and the sender saw a broken pipe
        /// instead of the answer (measured: a 503 in 1 of 4 runs of the 256 MiB test on the JIT build; a 413 in 1 of 2 clean-clone runs).
        /// </summary>
        private static async Task DrainAsync(HttpRequest request, long maxBytes, CancellationToken ct)
        {
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
