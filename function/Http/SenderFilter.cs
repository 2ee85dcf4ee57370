using Cachier.Diagnostics;
using Cachier.Security;

namespace Cachier.Http;

/// <summary>
/// Runs before an event endpoint binds anything (the body is not read for a sender that is refused): 401 for a missing
/// or invalid token, 403 for a valid one of a sender not on the list, 503 when the issuer's keys cannot be fetched.
/// The answer says nothing about the cluster; the log says why.
/// </summary>
public sealed class SenderFilter(SenderCheck check, ILogger<SenderFilter> logger, bool dapr) : IEndpointFilter
{
    public const string DaprTokenHeader = "dapr-api-token";

    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var result = dapr
            ? check.CheckDaprToken(http.Request.Headers[DaprTokenHeader].FirstOrDefault())
            : await check.CheckBearerAsync(http.Request.Headers.Authorization.FirstOrDefault(), http.RequestAborted);
        switch (result.Verdict)
        {
            case SenderVerdict.Allowed:
                return await next(context);
            case SenderVerdict.Forbidden:
                Log.SenderRefused(logger, 403, result.Reason);
                return TypedResults.Problem("This sender is not allowed to call Cachier.", statusCode: StatusCodes.Status403Forbidden, title: "Forbidden");
            case SenderVerdict.Unavailable:
                Log.SenderRefused(logger, 503, result.Reason);
                http.Response.Headers.RetryAfter = "1";
                return TypedResults.Problem("The sender's identity cannot be checked right now; redeliver the event.",
                    statusCode: StatusCodes.Status503ServiceUnavailable, title: "Service unavailable");
            default:
                Log.SenderRefused(logger, 401, result.Reason);
                http.Response.Headers.WWWAuthenticate = "Bearer";
                return TypedResults.Problem("A valid bearer token is required.", statusCode: StatusCodes.Status401Unauthorized, title: "Unauthorized");
        }
    }
}
