namespace Cachier.Http;

/// <summary>
/// Bytes of request bodies held at once, over all requests of the process. Each body is capped on its own
/// (<c>MaxRequestBodyBytes</c>), but forty near-limit bodies at once, decoded into CloudEvents, can take a small pod's
/// memory; past the budget a request is answered 503 + Retry-After (redelivered later) instead of running the process
/// out of memory. A request holds its share until it has been answered.
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

        public void Dispose()
        {
            budget.Give(_held);
            _held = 0;
        }
    }
}
