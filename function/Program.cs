using Cachier;

// appsettings.json sits beside the binary, wherever the process is started from.
var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
builder.AddCachier(args);

var app = builder.Build();
app.MapCachier();
app.Run();

/// <summary>Entry point; public for WebApplicationFactory in the tests.</summary>
public partial class Program;
