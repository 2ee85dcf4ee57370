namespace Cachier.Bench;

/// <summary>What bench/run.sh hands to every command (environment variables BENCH_*).</summary>
public sealed record BenchEnv(
    string Server,
    string CaFile,
    string AdminToken,
    string FunctionToken,
    string FunctionUser,
    string FunctionKubeconfig,
    string AuditLog,
    string OutDir,
    string RunId,
    string Resources,
    string AotBinary,
    string JitDll,
    string EchoBinary,
    string ForwardBinary,
    string? ApiServerPidFile)
{
    public string ResultsDir => Path.Combine(OutDir, "results");

    public string LogsDir => Path.Combine(OutDir, "logs");

    public static BenchEnv FromEnvironment()
    {
        static string Get(string name) =>
            Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : throw new InvalidOperationException($"{name} is not set (run bench/run.sh)");

        var env = new BenchEnv(
            Get("BENCH_SERVER").TrimEnd('/'),
            Get("BENCH_CA_FILE"),
            Get("BENCH_ADMIN_TOKEN"),
            Get("BENCH_FN_TOKEN"),
            Get("BENCH_FN_USER"),
            Get("BENCH_FN_KUBECONFIG"),
            Get("BENCH_AUDIT_LOG"),
            Get("BENCH_OUT"),
            Get("BENCH_RUN_ID"),
            Get("BENCH_RESOURCES"),
            Get("BENCH_AOT"),
            Get("BENCH_JIT_DLL"),
            Get("BENCH_ECHO"),
            Get("BENCH_FORWARD"),
            Environment.GetEnvironmentVariable("BENCH_APISERVER_PIDFILE"));
        Directory.CreateDirectory(env.ResultsDir);
        Directory.CreateDirectory(env.LogsDir);
        return env;
    }

    /// <summary>One namespace per measurement and run, so runs never wait on each other's cleanup.</summary>
    public string Namespace(string part) => $"cb-{RunId}-{part}";

    /// <summary>The bare echo gets the runtime setting the function ships with too, so the comparison is like for like.</summary>
    public static Dictionary<string, string> EchoEnvironment(int port) => new()
    {
        ["PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["DOTNET_EnableDiagnostics"] = "0",
    };

    /// <summary>The diagnostic GC: Server GC (the Web SDK's default) with the runtime's own gen0 budget.</summary>
    public static Dictionary<string, string> ServerGc => new() { ["DOTNET_gcServer"] = "1", ["DOTNET_GCgen0size"] = "0" };

    /// <summary>
    /// The diagnostic trust store: Debian's default paths, what .NET reads when SSL_CERT_FILE/SSL_CERT_DIR do not
    /// redirect it (so the first TLS handshake loads and parses the machine's whole CA bundle).
    /// </summary>
    public static Dictionary<string, string> MachineCaBundle => new() { ["SSL_CERT_FILE"] = "/etc/ssl/certs/ca-certificates.crt", ["SSL_CERT_DIR"] = "/etc/ssl/certs" };

    /// <summary>The environment Cachier runs with in every measurement: the function's own identity, and the runtime as shipped.</summary>

    public Dictionary<string, string> FunctionEnvironment(int port) => new()
    {
        ["PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Cachier__Kubeconfig"] = FunctionKubeconfig,
        ["Cachier__Resources"] = Resources,
        // As shipped: one JSON object per log line (the default; knative/service.yaml does not change it).
        ["Cachier__LogFormat"] = "json",
        // The bench sends unauthenticated events (issue 17 left a rerun with sender tokens to do).
        ["Cachier__Authentication__Mode"] = "None",
        ["Cachier__ResyncMinInterval"] = "00:00:00",

        // These mirror the Dockerfile (DOTNET_EnableDiagnostics=0, DOTNET_GCgen0size) and knative/service.yaml (the default trust store is
        // the ServiceAccount's ca.crt, so .NET never parses the machine's whole CA bundle). The cluster CA file stands in
        // for ca.crt here. Diagnostic variants override them one at a time.
        ["DOTNET_EnableDiagnostics"] = "0",
        ["DOTNET_GCgen0size"] = "400000",
        ["SSL_CERT_FILE"] = CaFile,
        ["SSL_CERT_DIR"] = "/nonexistent",
    };
}
