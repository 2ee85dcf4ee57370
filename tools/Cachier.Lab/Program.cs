namespace Cachier.Lab;

/// <summary>
/// cachier-lab: the local cluster's stand-ins for what Knative and a real registry path would provide.
///   source    the ApiServerSource (and PingSource) stand-in: watches kinds, POSTs CloudEvents to a sink
///   throttle  a token-bucket TCP proxy: a bandwidth-limited path to the local registry
/// (Not top-level statements: their generated <c>Program</c> would clash with the function's in the tests.)
/// </summary>
internal static class LabProgram
{
    public static async Task<int> Main(string[] args) => args switch
    {
        ["source", .. var rest] => await SourceCommand.RunAsync(rest),
        ["throttle", .. var rest] => await ThrottleCommand.RunAsync(rest),
        _ => Usage(),
    };

    private static int Usage()
    {
        Console.Error.WriteLine("usage: cachier-lab source|throttle [options]   (cachier-lab <command> --help)");
        return 2;
    }
}
