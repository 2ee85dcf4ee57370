using Cachier;

var builder = WebApplication.CreateSlimBuilder(args);
builder.AddCachier(args);

var app = builder.Build();
app.MapCachier();
app.Run();

/// <summary>Entry point; public for WebApplicationFactory in the tests.</summary>
public partial class Program;
