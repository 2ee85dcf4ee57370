using System.Net;
using System.Net.Sockets;
using Cachier.Kubernetes;
using k8s;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Cachier.Tests.Contract;

/// <summary>
/// The start-up check (<see cref="StartCheck"/>): once the connection is made, one GET of the Image API's discovery
/// document, with Cachier's credentials; what its answer means for the operator; and that it never holds the start.
/// </summary>
public sealed class StartCheckContractTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    private readonly WireMockServer _api = WireMockServer.Start();

    public void Dispose() => _api.Stop();

    [Fact]
    public async Task Served_Image_API_is_no_problem_and_the_GET_carries_the_credentials()
    {
        _api.Given(Request.Create().UsingGet().WithPath(ApiPaths.StartCheckPath))
            .RespondWith(Response.Create().WithStatusCode(200).WithBody("""{"kind":"APIResourceList","resources":[]}"""));
        using var connection = Connection("s3cret");

        var problem = await StartCheck.CheckAsync(Api(connection), CancellationToken.None);

        Assert.Null(problem);
        var request = Assert.Single(_api.LogEntries).RequestMessage!;
        Assert.Equal(("GET", ApiPaths.StartCheckPath), (request.Method, request.Path));
        Assert.Equal("Bearer s3cret", request.Headers!["Authorization"].Single());
    }

    [Theory]
    [InlineData(404, "the Image CRD (images.caching.internal.knative.dev) is not installed")]
    [InlineData(401, "refuses Cachier's credentials")]
    [InlineData(403, "may not read the Image API")]
    public async Task An_answer_that_stops_every_Image_write_is_an_error_that_says_why(int status, string why)
    {
        _api.Given(Request.Create().UsingGet().WithPath(ApiPaths.StartCheckPath)).RespondWith(Response.Create().WithStatusCode(status));
        using var connection = Connection("t");

        var problem = await StartCheck.CheckAsync(Api(connection), CancellationToken.None);

        Assert.NotNull(problem);
        Assert.Equal(LogLevel.Error, problem.Value.Level);
        Assert.Contains($"GET {ApiPaths.StartCheckPath} answered {status}", problem.Value.Message);
        Assert.Contains(why, problem.Value.Message);
    }

    [Fact]
    public async Task No_answer_is_a_warning_naming_the_wait()
    {
        // A port nobody listens on: the API server is not up (yet).
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        using var connection = new KubeConnection(new KubernetesClientConfiguration { Host = $"http://127.0.0.1:{port}" }, Timeout);

        var problem = await StartCheck.CheckAsync(Api(connection), CancellationToken.None);

        Assert.NotNull(problem);
        Assert.Equal(LogLevel.Warning, problem.Value.Level);
        Assert.Contains($"GET {ApiPaths.StartCheckPath} got no answer", problem.Value.Message);
    }

    [Fact]
    public async Task The_app_checks_once_at_start_without_holding_the_start_for_the_answer()
    {
        // The check's answer is held back until the app has answered: the start does not wait for it.
        var answer = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _api.Given(Request.Create().UsingGet().WithPath(ApiPaths.StartCheckPath)).RespondWith(Response.Create().WithCallback(async _ =>
        {
            await answer.Task;
            return new WireMock.ResponseMessage { StatusCode = 200, BodyData = new WireMock.Util.BodyData { BodyAsString = "{}", DetectedBodyType = WireMock.Types.BodyType.String } };
        }));
        using var host = AppHost.Start(new AppOptions { ApiServerUrl = _api.Url });

        using var ready = await host.Client.GetAsync("/health/readiness");
        var check = host.Services.GetRequiredService<StartCheck>().Completion;

        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.False(check.IsCompleted);
        answer.SetResult();
        await check.WaitAsync(TimeSpan.FromSeconds(30));
        var request = Assert.Single(_api.LogEntries).RequestMessage!;
        Assert.Equal(("GET", ApiPaths.StartCheckPath), (request.Method, request.Path));
    }

    private static KubeApi Api(KubeConnection connection) =>
        new(new KubeConnectionSource(connection, NullLogger<KubeConnectionSource>.Instance), new CachierSettings(new CachierOptions { ApiTimeout = Timeout }));

    private KubeConnection Connection(string token) =>
        new(new KubernetesClientConfiguration { Host = _api.Url, AccessToken = token }, Timeout);
}
