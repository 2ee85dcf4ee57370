using Cachier;
using Cachier.Manifests;
using Cachier.Plan;

// A command runs and exits before any web host is built: the service's start-up path is unchanged.
if (args is [ManifestsCommand.Name, .. var rest])
{
    return ManifestsCommand.Run(rest, Console.Out, Console.Error);
}

if (args is [PlanCommand.Name, .. var planArgs])
{
    return await PlanCommand.RunAsync(planArgs, Console.Out, Console.Error);
}

// appsettings.json sits beside the binary, wherever the process is started from.
var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
builder.AddCachier(args);

var app = builder.Build();
app.MapCachier();
app.Run();
return 0;

/// <summary>Entry point; public for WebApplicationFactory in the tests.</summary>
public partial class Program;
