using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Cachier.Tests.Integration;

namespace Cachier.Tests.Node;

/// <summary>
/// The shipped image, built once per test class by <c>scripts/image.sh</c> (no Docker) and pushed to the node lab's
/// registry. With <c>CACHIER_IMAGE_PUBLISHED=1</c> (scripts/test.sh, which has just published) the script takes
/// artifacts/publish as it is; otherwise it publishes first.
/// </summary>
public sealed class ShippedImage : IAsyncLifetime
{
    /// <summary>The reference by digest the script printed: <c>REGISTRY/cachier@sha256:...</c>.</summary>
    public string Reference { get; private set; } = "";

    /// <summary>The OCI layout the script built (artifacts/image/oci, tag <c>cachier</c>).</summary>
    public static string Layout => Path.Combine(Repository.Root, "artifacts", "image", "oci");

    public async Task InitializeAsync()
    {
        if (!NodeLab.IsUp)
        {
            return;
        }

        var (code, stdout, stderr) = await RunAsync("bash", $"scripts/image.sh {Environment.GetEnvironmentVariable("CACHIER_REGISTRY")}", TimeSpan.FromMinutes(15));
        if (code != 0)
        {
            throw new InvalidOperationException($"scripts/image.sh exited {code}:\n{stderr}");
        }

        Reference = stdout.Trim();
    }

    public Task DisposeAsync() => Task.CompletedTask;

    /// <summary>The image's configuration as the registry serves it (skopeo inspect --config).</summary>
    public async Task<JsonObject> ConfigAsync()
    {
        var (code, stdout, stderr) = await RunAsync("skopeo", $"inspect --config --tls-verify=false docker://{Reference}", TimeSpan.FromMinutes(2));
        return code == 0 ? JsonNode.Parse(stdout)!.AsObject() : throw new InvalidOperationException($"skopeo inspect --config exited {code}: {stderr}");
    }

    /// <summary>The manifest digest of tag <c>cachier</c> in the layout, and its layers' blob digests.</summary>
    public static (string Manifest, IReadOnlyList<string> Layers) LayoutManifest()
    {
        var index = JsonNode.Parse(File.ReadAllText(Path.Combine(Layout, "index.json")))!;
        var manifest = index["manifests"]!.AsArray()
            .Single(m => (string?)m!["annotations"]?["org.opencontainers.image.ref.name"] == "cachier")!;
        var digest = (string)manifest["digest"]!;
        var layers = JsonNode.Parse(File.ReadAllText(Blob(digest)))!["layers"]!.AsArray().Select(l => (string)l!["digest"]!).ToList();
        return (digest, layers);
    }

    /// <summary>Every regular file of a (gzip) layer blob: path without a leading slash, SHA-256, owner and mode.</summary>
    public static async Task<Dictionary<string, (string Sha256, int Uid, UnixFileMode Mode)>> LayerFilesAsync(string digest)
    {
        var files = new Dictionary<string, (string, int, UnixFileMode)>();
        await using var gzip = new GZipStream(File.OpenRead(Blob(digest)), CompressionMode.Decompress);
        using var tar = new TarReader(gzip);
        while (await tar.GetNextEntryAsync() is { } entry)
        {
            if (entry.EntryType is TarEntryType.RegularFile or TarEntryType.V7RegularFile && entry.DataStream is { } data)
            {
                var uid = entry is PosixTarEntry posix ? posix.Uid : -1;
                files[entry.Name.TrimStart('.', '/')] = (Convert.ToHexStringLower(await SHA256.HashDataAsync(data)), uid, entry.Mode);
            }
        }

        return files;
    }

    public static async Task<(int Code, string Stdout, string Stderr)> RunAsync(string file, string arguments, TimeSpan bound)
    {
        var start = new ProcessStartInfo(file, arguments)
        {
            WorkingDirectory = Repository.Root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(bound);
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout, await stderr);
    }

    private static string Blob(string digest) => Path.Combine(Layout, "blobs", "sha256", digest["sha256:".Length..]);
}
