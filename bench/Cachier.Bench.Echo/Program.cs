// A bare CloudEvent sink: the floor of what a Native AOT ASP.NET Core function can start up in.
// Same builder and listening rule as Cachier ($PORT, default 8080), one route that echoes the body.
var builder = WebApplication.CreateSlimBuilder(args);
var port = Environment.GetEnvironmentVariable("PORT") is { Length: > 0 } p ? p : "8080";
builder.WebHost.UseUrls($"http://0.0.0.0:{port}");

var app = builder.Build();
app.MapPost("/", async (HttpRequest request, HttpResponse response) =>
{
    response.StatusCode = StatusCodes.Status200OK;
    response.ContentType = request.ContentType ?? "application/json";
    await request.Body.CopyToAsync(response.Body);
});
app.Run();
