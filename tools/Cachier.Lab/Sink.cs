using System.Globalization;
using System.Net.Http.Headers;
using System.Text;

namespace Cachier.Lab;

/// <summary>What became of one event: the last status (0: no answer), how many POSTs it took, whether it was acknowledged.</summary>
public sealed record Delivery(int Status, int Attempts, bool Delivered);

/// <summary>
/// Delivers events to one sink as the Knative adapters do (sdk-go's HTTP protocol with
/// <c>ContextWithRetriesExponentialBackoff(ctx, 50ms, 5)</c>): binary mode; a 2xx is an acknowledgement; 404, 413, 425,
/// 429, 502, 503, 504 and a failed connection are retried up to 5 times after 50, 100, 200, 400, 800 ms; any other
/// status (500 included) is final. An event that is not acknowledged is dropped with a log line.
/// </summary>
public sealed class Sink(HttpClient http, Uri url, string knNamespace, ITokenSource? tokens, TextWriter log)
{
    public const int Retries = 5;

    private static readonly HashSet<int> Retryable = [404, 413, 425, 429, 502, 503, 504];

    /// <summary>The first backoff; each next one doubles it.</summary>
    public TimeSpan FirstBackoff { get; init; } = TimeSpan.FromMilliseconds(50);

    public Uri Url => url;

    public async Task<Delivery> DeliverAsync(OutboundEvent e, CancellationToken ct)
    {
        var status = 0;
        var error = "";
        var attempt = 0;
        while (true)
        {
            attempt++;
            try
            {
                using var request = await RequestAsync(e, ct);
                using var response = await http.SendAsync(request, ct);
                status = (int)response.StatusCode;
                error = "";
                if (response.IsSuccessStatusCode)
                {
                    Log("delivered", e, status, attempt, "");
                    return new Delivery(status, attempt, true);
                }
            }
            catch (Exception ex) when (!ct.IsCancellationRequested && ex is HttpRequestException or TaskCanceledException or IOException or ApiException)
            {
                // No answer (refused, reset, timed out) or no token to send with it: retried like a retryable status.
                status = 0;
                error = ex.Message;
            }

            if ((status != 0 && !Retryable.Contains(status)) || attempt > Retries)
            {
                Log("dropped", e, status, attempt, error);
                return new Delivery(status, attempt, false);
            }

            await Task.Delay(FirstBackoff * Math.Pow(2, attempt - 1), ct);
        }
    }

    private async Task<HttpRequestMessage> RequestAsync(OutboundEvent e, CancellationToken ct)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, url);
        // sdk-go writes textproto.CanonicalMIMEHeaderKey("Ce-" + name); datacontenttype travels as Content-Type.
        var headers = new List<KeyValuePair<string, string>>
        {
            new("Ce-Id", e.Id),
            new("Ce-Source", e.Source),
            new("Ce-Specversion", "1.0"),
            new("Ce-Type", e.Type),
            new("Ce-Time", e.Time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture)),
        };
        if (e.Subject is not null)
        {
            headers.Add(new("Ce-Subject", e.Subject));
        }

        headers.AddRange(e.Extensions.Select(x => KeyValuePair.Create("Ce-" + char.ToUpperInvariant(x.Key[0]) + x.Key[1..], x.Value)));
        headers.Add(new("Kn-Namespace", knNamespace));
        foreach (var (name, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        if (tokens is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", await tokens.GetAsync(ct));
        }

        if (e.Data is not null)
        {
            request.Content = new ByteArrayContent(Encoding.UTF8.GetBytes(e.Data));
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        }

        return request;
    }

    private void Log(string verdict, OutboundEvent e, int status, int attempts, string error)
    {
        var answer = status == 0 ? $"no answer ({error})" : status.ToString(CultureInfo.InvariantCulture);
        var line = $"{DateTime.UtcNow:HH:mm:ss.fff} {verdict} {e.Type} {e.What} -> {answer} after {attempts} attempt{(attempts == 1 ? "" : "s")}";
        lock (log)
        {
            log.WriteLine(line);
            log.Flush();
        }
    }
}
