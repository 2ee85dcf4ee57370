namespace Cachier.Tests.Reliability;

/// <summary>A test that needs <see cref="MemoryCgroup"/>: skipped, with the reason, where one cannot be made.</summary>
public sealed class MemoryCgroupFactAttribute : FactAttribute
{
    public MemoryCgroupFactAttribute()
    {
        if (MemoryCgroup.Unavailable() is { } reason)
        {
            Skip = reason;
        }
    }
}

/// <summary>
/// A child memory cgroup with a hard limit, for running a process as a pod with that memory limit would run: cgroup v2
/// (<c>memory.max</c>), or the v1 memory hierarchy (<c>memory.limit_in_bytes</c>) where v2 has no memory controller.
/// A process is put in it before it starts (<see cref="Wrap"/>), so the .NET runtime sizes its GC heap by the limit.
/// Needs root; removed on dispose (after its processes have exited).
/// </summary>
public sealed class MemoryCgroup : IDisposable
{
    private const string Root = "/sys/fs/cgroup";
    private const string V1Root = "/sys/fs/cgroup/memory";

    private readonly bool _v2;

    public MemoryCgroup(long limitBytes)
    {
        _v2 = HasV2Memory();
        Path = System.IO.Path.Combine(_v2 ? Root : V1Root, $"cachier-test-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path);
        File.WriteAllText(System.IO.Path.Combine(Path, _v2 ? "memory.max" : "memory.limit_in_bytes"), limitBytes.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (_v2)
        {
            // No swap either: the limit is the pod's.
            File.WriteAllText(System.IO.Path.Combine(Path, "memory.swap.max"), "0");
        }
    }

    public string Path { get; }

    /// <summary>Why no such cgroup can be made here, or null.</summary>
    public static string? Unavailable()
    {
        if (!OperatingSystem.IsLinux() || !Environment.IsPrivilegedProcess)
        {
            return "needs root on Linux, to make a memory cgroup (CI runs as root)";
        }

        if (HasV2Memory() || File.Exists(System.IO.Path.Combine(V1Root, "memory.limit_in_bytes")))
        {
            return null;
        }

        return $"no memory controller: neither cgroup v2 with 'memory' in {Root}/cgroup.subtree_control nor a v1 hierarchy at {V1Root}";
    }

    /// <summary>The peak memory of the cgroup so far, in bytes.</summary>
    public long PeakBytes => ReadLong(_v2 ? "memory.peak" : "memory.max_usage_in_bytes");

    /// <summary>Processes of the cgroup the kernel's OOM killer ended.</summary>
    public long OomKills => File.ReadLines(System.IO.Path.Combine(Path, _v2 ? "memory.events" : "memory.oom_control"))
        .Select(l => l.Split(' '))
        .Where(f => f[0] == "oom_kill")
        .Select(f => long.Parse(f[1], System.Globalization.CultureInfo.InvariantCulture))
        .SingleOrDefault();

    /// <summary>A shell that joins the cgroup, then execs <paramref name="file"/>: the process starts inside it.</summary>
    public (string File, string[] Arguments) Wrap(string file, params string[] arguments) =>
        ("/bin/sh", ["-c", "echo $$ > \"$0/cgroup.procs\" && exec \"$@\"", Path, file, .. arguments]);

    public void Dispose()
    {
        // Its processes have exited and been waited for, so the (empty) cgroup can go.
        Directory.Delete(Path);
    }

    private static bool HasV2Memory() =>
        File.Exists(System.IO.Path.Combine(Root, "cgroup.subtree_control"))
        && File.ReadAllText(System.IO.Path.Combine(Root, "cgroup.subtree_control")).Split(' ', '\n').Contains("memory");

    private long ReadLong(string file) =>
        long.Parse(File.ReadAllText(System.IO.Path.Combine(Path, file)).Trim(), System.Globalization.CultureInfo.InvariantCulture);
}
