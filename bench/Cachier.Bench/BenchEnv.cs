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
    string? ApiServerPidFile,
    string? PrototypeBinary)
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
            Environment.GetEnvironmentVariable("BENCH_APISERVER_PIDFILE"),
            Environment.GetEnvironmentVariable("BENCH_PROTO_AOT") is { Length: > 0 } proto && File.Exists(proto) ? proto : null);
        Directory.CreateDirectory(env.ResultsDir);
        Directory.CreateDirectory(env.LogsDir);
        return env;
    }

    public const string PrototypeLabel = "prototype: bench/prototypes/plain-http-client.patch";

    /// <summary>One namespace per measurement and run, so runs never wait on each other's cleanup.</summary>
    public string Namespace(string part) => $"cb-{RunId}-{part}";

    /// <summary>The environment Cachier runs with in every measurement (the function's own identity).</summary>
    public Dictionary<string, string> FunctionEnvironment(int port) => new()
    {
        ["PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Cachier__Kubeconfig"] = FunctionKubeconfig,
        ["Cachier__Resources"] = Resources,
        ["Cachier__LogFormat"] = "simple",
    };
}
