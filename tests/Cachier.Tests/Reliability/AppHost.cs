using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Cachier.Tests.Reliability;

/// <summary>
/// The real app (<see cref="WebApplicationFactory{TEntryPoint}"/>) with <c>Cachier:ApiServerUrl</c> pointing wherever the
/// test says (a <see cref="FakeApi"/>, a socket that resets or hangs, a closed port). A startup filter records when the
/// server side of each request has finished, so a test can wait on that signal instead of on time.
/// </summary>
public sealed class AppHost : IDisposable
{
    private readonly WebApplicationFactory<Program> _factory;
    private readonly RequestObserver _observer = new();

    public AppHost(string apiServerUrl, params (string Key, string Value)[] settings)
    {
        _factory = new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            web.UseSetting("Cachier:ApiServerUrl", apiServerUrl);
            // Who may send events is tested on its own (Contract/SenderAuthenticationContractTests, the hostile corpus).
            web.UseSetting("Cachier:Authentication:Mode", "None");
            web.UseSetting("Cachier:ResyncMinInterval", "00:00:00");
            foreach (var (key, value) in settings)
            {
                web.UseSetting($"Cachier:{key}", value);
            }

            web.ConfigureLogging(logging => logging.ClearProviders());
            web.ConfigureServices(services => services.AddSingleton<IStartupFilter>(_observer));
            // The fault tests assert exact call lists of the reconcile: the Kubernetes Events go to a note log (their
            // wire calls are proven by EventContractTests).
            web.ConfigureTestServices(s => s.AddSingleton<IEventRecorder>(new Contract.NoteLog()));
        });
        Client = _factory.CreateClient();
        // Bounds a test whose app would otherwise never answer.
        Client.Timeout = TimeSpan.FromSeconds(60);
    }

    public HttpClient Client { get; }

    public IServiceProvider Services => _factory.Services;

    /// <summary>Completes when the server side of the next request to finish has finished (answered or aborted).</summary>
    public Task<TimeSpan> NextCompletion => _observer.Next;

    /// <summary>Starts the in-memory server and JIT-compiles the request path, so timings measure Cachier, not warm-up.</summary>
    public async Task WarmUpAsync()
    {
        using var response = await Client.GetAsync("/health/readiness");
        response.EnsureSuccessStatusCode();
        // An event for a kind that is not configured runs the whole edge and makes no API call.
        using var ignored = await SendRefAsync("update", "v1", "Secret", "warm", "up");
        ignored.EnsureSuccessStatusCode();
    }

    public Task<HttpResponseMessage> SendRefAsync(string verb, string apiVersion, string kind, string ns, string name, CancellationToken ct = default) =>
        Client.SendAsync(Events.Ref(verb, apiVersion, kind, ns, name), ct);

    public void Dispose()
    {
        Client.Dispose();
        _factory.Dispose();
    }

    private sealed class RequestObserver : IStartupFilter
    {
        private readonly object _gate = new();
        private TaskCompletionSource<TimeSpan> _next = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<TimeSpan> Next
        {
            get
            {
                lock (_gate)
                {
                    return _next.Task;
                }
            }
        }

        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use(async (context, inner) =>
            {
                var started = Stopwatch.GetTimestamp();
                try
                {
                    await inner(context);
                }
                finally
                {
                    TaskCompletionSource<TimeSpan> done;
                    lock (_gate)
                    {
                        done = _next;
                        _next = new TaskCompletionSource<TimeSpan>(TaskCreationOptions.RunContinuationsAsynchronously);
                    }

                    done.TrySetResult(Stopwatch.GetElapsedTime(started));
                }
            });
            next(app);
        };
    }
}

/// <summary>CloudEvents as the ApiServerSource adapter sends them, and the answers Cachier gives.</summary>
public static class Events
{
    /// <summary>A Reference-mode event in binary mode: ce-* headers, data = the object reference.</summary>
    public static HttpRequestMessage Ref(string verb, string apiVersion, string kind, string ns, string name)
    {
        var data = new JsonObject { ["kind"] = kind, ["namespace"] = ns, ["name"] = name, ["apiVersion"] = apiVersion };
        var request = new HttpRequestMessage(HttpMethod.Post, "/") { Content = new StringContent(data.ToJsonString(), Encoding.UTF8) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        foreach (var (key, value) in new Dictionary<string, string>
        {
            ["ce-specversion"] = "1.0",
            ["ce-id"] = Guid.NewGuid().ToString(),
            ["ce-source"] = "https://10.96.0.1:443",
            ["ce-type"] = $"dev.knative.apiserver.ref.{verb}",
            ["ce-subject"] = $"/apis/{apiVersion}/namespaces/{ns}/{kind.ToLowerInvariant()}s/{name}",
            ["ce-apiversion"] = apiVersion,
            ["ce-kind"] = kind,
            ["ce-namespace"] = ns,
            ["ce-name"] = name,
        })
        {
            request.Headers.TryAddWithoutValidation(key, value);
        }

        return request;
    }

    /// <summary>One delivery of a Reference-mode Deployment event: status, Retry-After seconds (0 when none), JSON body.</summary>
    public static async Task<(HttpStatusCode Status, double RetryAfter, JsonObject Body)> DeliverOnceAsync(HttpClient client, string verb, string ns, string name)
    {
        using var response = await client.SendAsync(Ref(verb, "apps/v1", "Deployment", ns, name));
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, response.Headers.RetryAfter?.Delta?.TotalSeconds ?? 0, JsonNode.Parse(text)!.AsObject());
    }

    /// <summary>Delivers as a Broker does: a 503 is redelivered after its Retry-After (a minute at most in all); the 200's body.</summary>
    public static async Task<JsonObject> DeliverAsync(HttpClient client, string verb, string ns, string name)
    {
        for (var attempt = 1; ; attempt++)
        {
            var (status, retryAfter, body) = await DeliverOnceAsync(client, verb, ns, name);
            if (status == HttpStatusCode.OK)
            {
                return body;
            }

            Assert.True(status == HttpStatusCode.ServiceUnavailable && attempt < 15, $"delivery {attempt} of {verb} {ns}/{name}: {(int)status} {body}");
            // The wait the protocol asks for, not a guess at timing.
            await Task.Delay(TimeSpan.FromSeconds(Math.Clamp(retryAfter, 1, 5)));
        }
    }

    /// <summary>The outcome object of a single-event answer with the expected status; no ce-* headers (not a reply event).</summary>
    public static async Task<JsonObject> OutcomeAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(expected == response.StatusCode, $"expected {(int)expected}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        Assert.DoesNotContain(response.Headers, h => h.Key.StartsWith("ce-", StringComparison.OrdinalIgnoreCase));
        return JsonNode.Parse(text)!["outcome"]!.AsObject();
    }

    /// <summary>Seconds of the Retry-After header, which a 503 must carry.</summary>
    public static double RetryAfterSeconds(HttpResponseMessage response)
    {
        Assert.True(response.Headers.RetryAfter is not null, $"a {(int)response.StatusCode} must carry Retry-After");
        var value = response.Headers.RetryAfter!;
        return value.Delta?.TotalSeconds ?? (value.Date!.Value - DateTimeOffset.UtcNow).TotalSeconds;
    }
}

/// <summary>Workloads and Images shaped as the API server serves them; the SPEC's naming rule computed independently.</summary>
public static class Shapes
{
    public const string Ns = "rel";

    public static JsonObject Deployment(string name, string uid, long generation, string[] images, string? serviceAccount = null, string ns = Ns)
    {
        var pod = new JsonObject
        {
            ["containers"] = new JsonArray(images.Select((image, i) => (JsonNode)new JsonObject { ["name"] = $"c{i}", ["image"] = image }).ToArray()),
        };
        if (serviceAccount is not null)
        {
            pod["serviceAccountName"] = serviceAccount;
        }

        return new JsonObject
        {
            ["apiVersion"] = "apps/v1",
            ["kind"] = "Deployment",
            ["metadata"] = new JsonObject
            {
                ["name"] = name,
                ["namespace"] = ns,
                ["uid"] = uid,
                ["resourceVersion"] = "4711",
                ["generation"] = generation,
            },
            ["spec"] = new JsonObject
            {
                ["replicas"] = 1,
                ["template"] = new JsonObject { ["spec"] = pod },
            },
        };
    }

    /// <summary>An Image of <paramref name="workloadName"/> as Cachier writes it, for seeding the fake API server.</summary>
    public static JsonObject OurImage(string workloadName, string uid, long generation, string image, string? serviceAccount = null, string? name = null, string ns = Ns)
    {
        var spec = new JsonObject { ["image"] = image };
        if (serviceAccount is not null)
        {
            spec["serviceAccountName"] = serviceAccount;
        }

        return new JsonObject
        {
            ["apiVersion"] = "caching.internal.knative.dev/v1alpha1",
            ["kind"] = "Image",
            ["metadata"] = new JsonObject
            {
                ["name"] = name ?? ExpectedNames.Image(workloadName, uid, image),
                ["namespace"] = ns,
                ["labels"] = new JsonObject
                {
                    ["controller"] = uid,
                    ["generation"] = generation.ToString("D5", CultureInfo.InvariantCulture),
                    ["app.kubernetes.io/managed-by"] = "cachier",
                },
                ["ownerReferences"] = new JsonArray(new JsonObject
                {
                    ["apiVersion"] = "apps/v1",
                    ["kind"] = "Deployment",
                    ["name"] = workloadName,
                    ["uid"] = uid,
                    ["controller"] = true,
                    ["blockOwnerDeletion"] = true,
                }),
            },
            ["spec"] = spec,
        };
    }
}
