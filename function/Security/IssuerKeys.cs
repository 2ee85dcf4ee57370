using Cachier.Configuration;
using Cachier.Reconcile;
using Microsoft.IdentityModel.Tokens;

namespace Cachier.Security;

/// <summary>The service-account token issuer and its public keys, as the API server publishes them (OIDC discovery).</summary>
public sealed record IssuerKeys(string Issuer, IReadOnlyList<SecurityKey> Keys);

/// <summary>The port that fetches <see cref="IssuerKeys"/>; the Kubernetes adapter implements it over the one connection.</summary>
public interface IIssuerKeySource
{
    /// <exception cref="Reconcile.ApiException">the API server did not give them (transient or not).</exception>
    Task<IssuerKeys> FetchAsync(CancellationToken ct);
}

/// <summary>
/// The issuer's keys, fetched once and kept: a token costs no API call. They are fetched again when older than
/// <c>KeysMaxAge</c> (so a removed key stops working), and when a token names a key id that is not among them (a
/// rotation), at most once per <c>KeysRefreshMinInterval</c> so that made-up key ids cannot drive API calls.
/// </summary>
public sealed class IssuerKeyCache(IIssuerKeySource source, SenderAuthenticationOptions options, TimeProvider time)
{
    private readonly SemaphoreSlim _fetching = new(1, 1);
    private IssuerKeys? _keys;
    private long _fetchedAt;
    private long _attemptedAt = long.MinValue;
    private long _refreshedAt = long.MinValue;

    /// <summary>The current keys, fetched when there are none yet or they are older than the maximum age.</summary>
    public async Task<IssuerKeys> GetAsync(CancellationToken ct)
    {
        var keys = Volatile.Read(ref _keys);
        if (keys is not null && time.GetElapsedTime(Volatile.Read(ref _fetchedAt)) < options.KeysMaxAge)
        {
            return keys;
        }

        return await FetchAsync(keys, force: false, ct);
    }

    /// <summary>A token named a key that is not known: fetch again, unless that was done within the minimum interval.</summary>
    public async Task<IssuerKeys> RefreshAsync(IssuerKeys seen, CancellationToken ct) => await FetchAsync(seen, force: true, ct);

    private async Task<IssuerKeys> FetchAsync(IssuerKeys? seen, bool force, CancellationToken ct)
    {
        await _fetching.WaitAsync(ct);
        try
        {
            // Another request fetched while this one waited: use that.
            if (_keys is { } current && !ReferenceEquals(current, seen))
            {
                return current;
            }

            var now = time.GetTimestamp();
            if (_keys is { } known)
            {
                // Made-up key ids refresh at most once per interval; so do keys past their age while the API server fails.
                var last = force ? _refreshedAt : _attemptedAt;
                if (last != long.MinValue && time.GetElapsedTime(last, now) < options.KeysRefreshMinInterval)
                {
                    return known;
                }
            }

            if (force)
            {
                _refreshedAt = now;
            }

            _attemptedAt = now;
            try
            {
                var fetched = await source.FetchAsync(ct);
                Volatile.Write(ref _fetchedAt, now);
                Volatile.Write(ref _keys, fetched);
                return fetched;
            }
            catch (Reconcile.ApiException) when (_keys is { } stale)
            {
                // The API server is away: keys past their age are still better than refusing every sender.
                return stale;
            }
        }
        finally
        {
            _fetching.Release();
        }
    }
}
