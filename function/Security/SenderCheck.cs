using System.Security.Cryptography;
using System.Text;
using Cachier.Configuration;
using Cachier.Reconcile;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Cachier.Security;

public enum SenderVerdict
{
    Allowed,

    /// <summary>No token, or one that is not valid: 401.</summary>
    Unauthenticated,

    /// <summary>A valid token of a sender that is not on the list: 403.</summary>
    Forbidden,

    /// <summary>The issuer's keys could not be fetched: 503, the sender retries.</summary>
    Unavailable,
}

/// <summary>The verdict, and for the log only (never for the caller) why.</summary>
public sealed record SenderResult(SenderVerdict Verdict, string Reason, string? Subject = null);

/// <summary>
/// Who sent a request (SPEC section 6, "Who may call"): Knative Eventing's sender identity, a service-account token of
/// the cluster issued for our audience, checked for signature (RS256/ES256 with the issuer's published keys), issuer,
/// audience, expiry and an allow-list of subjects. The keys are cached (<see cref="IssuerKeyCache"/>): no API call per
/// request. Validation is Microsoft.IdentityModel.JsonWebTokens' (trim- and AOT-clean; measured in bench/RESULTS.md).
/// </summary>
public sealed class SenderCheck
{
    private static readonly JsonWebTokenHandler Handler = new() { MaximumTokenSizeInBytes = 16 * 1024 };
    private readonly IssuerKeyCache _keys;
    private readonly SenderAuthenticationOptions _options;
    private readonly IReadOnlySet<string> _allowed;
    private readonly byte[]? _daprToken;

    // A sender repeats one token for its lifetime (the sources' projected tokens live about an hour): its signature is
    // checked once and the verdict kept until the token expires. Checking it on every event cost 7 % of the steady
    // state at concurrency 1 and 36 % at 8 (bench/RESULTS.md, authentication on vs off). Keyed by the exact token, so a
    // changed byte is validated afresh; bounded (cleared when full), so invented tokens cannot grow it.
    private const int MaxVerdicts = 64;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, (SenderResult Result, DateTime Expires)> _verdicts = new(StringComparer.Ordinal);

    public SenderCheck(IssuerKeyCache keys, SenderAuthenticationOptions options)
    {
        _keys = keys;
        _options = options;
        _allowed = SenderAuthenticationSettings.Subjects(options);
        _daprToken = string.IsNullOrEmpty(options.DaprApiToken) ? null : Encoding.UTF8.GetBytes(options.DaprApiToken);
    }

    public bool Required => _options.Mode != SenderAuthenticationMode.None;

    /// <summary>Starts fetching the keys, so that the first event after a cold start does not wait for them.</summary>
    public void Prefetch()
    {
        if (Required)
        {
            _ = _keys.GetAsync(CancellationToken.None).ContinueWith(
                static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        }
    }

    /// <param name="authorization">the request's <c>Authorization</c> header.</param>
    public async Task<SenderResult> CheckBearerAsync(string? authorization, CancellationToken ct)
    {
        if (!Required)
        {
            return new SenderResult(SenderVerdict.Allowed, "authentication is off");
        }

        const string Scheme = "Bearer ";
        if (authorization is null || !authorization.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase) || authorization.Length <= Scheme.Length)
        {
            return new SenderResult(SenderVerdict.Unauthenticated, "no bearer token");
        }

        var token = authorization[Scheme.Length..].Trim();
        if (_verdicts.TryGetValue(token, out var seen) && DateTime.UtcNow < seen.Expires)
        {
            return seen.Result;
        }

        if (!Handler.CanReadToken(token) || !IsJws(token))
        {
            // Not even the shape of a JWT: refused before anything (the keys included) is looked at.
            return new SenderResult(SenderVerdict.Unauthenticated, "not a JWT");
        }

        IssuerKeys keys;
        try
        {
            keys = await _keys.GetAsync(ct);
        }
        catch (Reconcile.ApiException e)
        {
            return new SenderResult(SenderVerdict.Unavailable, $"the token issuer's keys cannot be fetched: {e.Message}");
        }

        if (Handler.ReadJsonWebToken(token).Kid is { Length: > 0 } kid && !keys.Keys.Any(k => k.KeyId == kid))
        {
            // A key id we do not know: the issuer may have rotated its keys. Fetch them again (rate-limited), once.
            keys = await _keys.RefreshAsync(keys, ct);
        }

        var result = await ValidateAsync(token, keys);
        if (!result.IsValid)
        {
            return new SenderResult(SenderVerdict.Unauthenticated, $"invalid token: {result.Exception?.GetType().Name ?? "rejected"}");
        }

        var jwt = result.SecurityToken as JsonWebToken;
        var subject = jwt?.Subject;
        var verdict = subject is not null && _allowed.Contains(subject)
            ? new SenderResult(SenderVerdict.Allowed, "allowed", subject)
            : new SenderResult(SenderVerdict.Forbidden, $"sender '{subject}' is not in Cachier:Authentication:AllowedSubjects", subject);
        if (jwt is not null)
        {
            if (_verdicts.Count >= MaxVerdicts)
            {
                _verdicts.Clear();
            }

            _verdicts[token] = (verdict, jwt.ValidTo);
        }

        return verdict;
    }

    /// <summary>Dapr deliveries: the sidecar's app API token, when one is configured (always, when authentication is on).</summary>
    public SenderResult CheckDaprToken(string? header)
    {
        if (_daprToken is null)
        {
            return Required
                ? new SenderResult(SenderVerdict.Unauthenticated, $"{SenderAuthenticationSettings.DaprTokenVariable} is not set")
                : new SenderResult(SenderVerdict.Allowed, "authentication is off");
        }

        return header is not null && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(header), _daprToken)
            ? new SenderResult(SenderVerdict.Allowed, "Dapr app API token")
            : new SenderResult(SenderVerdict.Unauthenticated, "missing or wrong dapr-api-token");
    }

    /// <summary>Three parts (a signed token, not an encrypted one) whose header reads.</summary>
    private static bool IsJws(string token)
    {
        try
        {
            return token.Count(c => c == '.') == 2 && Handler.ReadJsonWebToken(token) is not null;
        }
        catch (Exception e) when (e is ArgumentException or SecurityTokenException)
        {
            return false;
        }
    }

    private Task<TokenValidationResult> ValidateAsync(string token, IssuerKeys keys) =>
        Handler.ValidateTokenAsync(token, new TokenValidationParameters
        {
            ValidIssuer = _options.Issuer ?? keys.Issuer,
            ValidAudience = _options.Audience,
            IssuerSigningKeys = keys.Keys,
            ValidAlgorithms = [SecurityAlgorithms.RsaSha256, SecurityAlgorithms.EcdsaSha256],
            RequireExpirationTime = true,
            RequireSignedTokens = true,
            ValidateIssuerSigningKey = true,
            ClockSkew = _options.ClockSkew,
        });
}
