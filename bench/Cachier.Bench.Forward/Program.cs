// A bare forwarder: for each Reference-mode CloudEvent (binary mode), the one GET Cachier makes for it, with the same
// kind of client (one SocketsHttpHandler, the cluster CA as its only root, a bearer token), then 200. No CloudEvent
// binding, no parse of the answer, no plan, no memo, no lock, no log line, no metrics: what is left of an event's cost
// is the second hop and the GET, the least any function that must read the object can spend on this machine.
using System.Net.Http.Headers;
using System.Security.Cryptography.X509Certificates;

static string Setting(string name) =>
    Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : throw new InvalidOperationException($"{name} is not set");

var builder = WebApplication.CreateSlimBuilder(args);
var port = Environment.GetEnvironmentVariable("PORT") is { Length: > 0 } p ? p : "8080";
builder.WebHost.UseUrls($"http://0.0.0.0:{port}");

var api = Setting("FORWARD_API").TrimEnd('/');
var token = new AuthenticationHeaderValue("Bearer", Setting("FORWARD_TOKEN"));
var trust = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
trust.CustomTrustStore.Add(X509CertificateLoader.LoadCertificateFromFile(Setting("FORWARD_CA")));
var client = new HttpClient(new SocketsHttpHandler { SslOptions = { CertificateChainPolicy = trust } });

var app = builder.Build();
app.MapGet("/health/readiness", () => "ok");
app.MapPost("/", async (HttpRequest request, CancellationToken ct) =>
{
    // ce-subject is the object's API path (/apis/apps/v1/namespaces/<ns>/deployments/<name>): a shortcut only a bench may
    // take. Cachier never parses it (SPEC 6); it names the workload from the event's extensions and its configured kinds.
    await request.Body.CopyToAsync(Stream.Null, ct);
    using var get = new HttpRequestMessage(HttpMethod.Get, api + request.Headers["ce-subject"]);
    get.Headers.Authorization = token;
    using var response = await client.SendAsync(get, ct);
    _ = await response.Content.ReadAsByteArrayAsync(ct);

    // The outcome field the bench checks on Cachier's answers.
    return response.IsSuccessStatusCode
        ? Results.Text("""{"result":"reconciled"}""", "application/json")
        : Results.StatusCode(StatusCodes.Status502BadGateway);
});
app.Run();
