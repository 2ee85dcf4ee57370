using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Xunit.Abstractions;
using static Cachier.Tests.Support.Objects;

namespace Cachier.Tests.Reliability;

/// <summary>
/// Issue 17 part 3: forty near-limit bodies at once, in waves, against the function in a 256 MiB memory cgroup (a pod's
/// memory limit). It stays up; every request is answered 200, 413 or 503, never 500; nothing is lost: the test
/// redelivers every 503 as the sender would, and at the end every workload the events named has its Image.
/// The API server is the stateful <see cref="FakeApi"/> in the test process, outside the cgroup: the memory under test
/// is the function's alone, and the run does not depend on a cluster's speed.
/// </summary>
public sealed class MemoryLimitTests(ITestOutputHelper output) : IDisposable
{
    private const long Limit = 256L * 1024 * 1024;
    private const long MaxBody = 3L * 1024 * 1024;
    private const int Parallel = 40;
    private const int Waves = 3;
    private const int EventsPerBody = 10;

    /// <summary>Bodies just over the limit in each wave: answered 413, not redelivered (a sender would not either).</summary>
    private const int OverLimitPerWave = 2;

    private readonly FakeApi _api = new();
    private MemoryCgroup? _cgroup;

    [MemoryCgroupFact]
    public async Task Forty_parallel_near_limit_bodies_in_a_256_MiB_cgroup_get_200_413_or_503_and_nothing_is_lost()
    {
        var workloads = Enumerable.Range(0, Parallel * EventsPerBody)
            .Select(i => (Name: $"w-{i:D3}", Uid: Guid.NewGuid().ToString(), Image: $"registry.example/img-{i:D3}:1"))
            .ToList();
        foreach (var w in workloads)
        {
            _api.PutDeployment(Deployment(w.Name, w.Uid, 1, [w.Image]));
        }

        var cgroup = _cgroup = new MemoryCgroup(Limit);
        await using var function = await StartAsync(cgroup);
        var client = function.Client;
        var statuses = new ConcurrentDictionary<int, int>();
        var redeliveries = 0;
        var reasons = new ConcurrentDictionary<string, int>();
        for (var wave = 0; wave < Waves; wave++)
        {
            var bodies = workloads.Chunk(EventsPerBody).Select(chunk => (Bytes: Batch(chunk, MaxBody - 8 * 1024), Over: false))
                .Concat(Enumerable.Range(0, OverLimitPerWave).Select(_ => (Bytes: Batch(workloads.Take(1), MaxBody + 1024), Over: true)))
                .ToList();
            Assert.All(bodies, b => Assert.Equal(b.Over, b.Bytes.Length > MaxBody));

            await Task.WhenAll(bodies.Select(async body =>
            {
                for (var attempt = 1; ; attempt++)
                {
                    using var content = new ByteArrayContent(body.Bytes);
                    content.Headers.ContentType = new("application/cloudevents-batch+json");
                    HttpResponseMessage response;
                    try
                    {
                        response = await client.PostAsync("/", content);
                    }
                    catch (HttpRequestException e)
                    {
                        throw new InvalidOperationException($"wave {wave}, attempt {attempt}, {(body.Over ? "over" : "under")} the limit: no answer", e);
                    }

                    using var answered = response;
                    var status = (int)response.StatusCode;
                    statuses.AddOrUpdate(status, 1, (_, n) => n + 1);
                    Assert.True(status is 200 or 413 or 503, $"wave {wave}, attempt {attempt}: {status} {await response.Content.ReadAsStringAsync()}");
                    Assert.Equal(body.Over, status == 413);
                    if (status != 503)
                    {
                        return;
                    }

                    var detail = (string?)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["detail"] ?? "";
                    reasons.AddOrUpdate(detail.Length > 40 ? detail[..40] : detail, 1, (_, n) => n + 1);

                    Assert.True(attempt < 100, $"a body was refused 100 times: {string.Join("; ", reasons.Select(r => $"{r.Key} x {r.Value}"))}");
                    Interlocked.Increment(ref redeliveries);
                    // The wait the answer asks for, as a sender would redeliver.
                    await Task.Delay(TimeSpan.FromSeconds(response.Headers.RetryAfter?.Delta?.TotalSeconds ?? 1));
                }
            }));
            Assert.False(function.HasExited, $"the function exited in wave {wave} with {(function.HasExited ? function.ExitCode : 0)}");
        }

        output.WriteLine($"answers: {string.Join(", ", statuses.OrderBy(s => s.Key).Select(s => $"{s.Key} x {s.Value}"))}; redeliveries {redeliveries}: {string.Join("; ", reasons.Select(r => $"{r.Key} x {r.Value}"))}");
        output.WriteLine($"cgroup peak {cgroup.PeakBytes / (1024 * 1024)} MiB of {Limit / (1024 * 1024)} MiB; OOM kills {cgroup.OomKills}");
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health/liveness")).StatusCode);
        Assert.Equal(0, cgroup.OomKills);
        var images = _api.Images(Ns).ToDictionary(i => (string)i["metadata"]!["labels"]!["controller"]!, i => (string)i["spec"]!["image"]!);
        Assert.All(workloads, w => Assert.Equal(w.Image, images.GetValueOrDefault(w.Uid)));
        Assert.Equal(workloads.Count, images.Count);
    }

    /// <summary>
    /// A batch of Resource-mode update events for <paramref name="chunk"/>, padded to <paramref name="size"/> bytes with each
    /// object's last-applied-configuration annotation, as <c>kubectl apply</c> of a large manifest would make it.
    /// </summary>
    private static byte[] Batch(IEnumerable<(string Name, string Uid, string Image)> chunk, long size)
    {
        var events = chunk.Select(w =>
        {
            var data = Deployment(w.Name, w.Uid, 1, [w.Image]);
            data["metadata"]!["annotations"] = new JsonObject { ["kubectl.kubernetes.io/last-applied-configuration"] = "" };
            return new JsonObject
            {
                ["specversion"] = "1.0",
                ["id"] = Guid.NewGuid().ToString(),
                ["source"] = "https://10.96.0.1:443",
                ["type"] = "dev.knative.apiserver.resource.update",
                ["subject"] = $"/apis/apps/v1/namespaces/{Ns}/deployments/{w.Name}",
                ["datacontenttype"] = "application/json",
                ["data"] = data,
            };
        }).ToList();
        // The array adds its brackets and a comma between events.
        var bare = events.Sum(e => Encoding.UTF8.GetByteCount(e.ToJsonString())) + events.Count + 1;
        var padding = (size - bare) / events.Count;
        foreach (var e in events)
        {
            e["data"]!["metadata"]!["annotations"]!["kubectl.kubernetes.io/last-applied-configuration"] = new string('x', (int)padding);
        }

        return Encoding.UTF8.GetBytes(new JsonArray([.. events]).ToJsonString());
    }

    /// <summary>
    /// The function in the cgroup: the Native AOT binary of scripts/publish.sh if it is there (what the image ships),
    /// else the JIT build (<c>dotnet cachier.dll</c>).
    /// </summary>
    private Task<FunctionProcess> StartAsync(MemoryCgroup cgroup)
    {
        var aot = File.Exists(Repository.PublishedBinary);
        var (file, arguments) = aot ? cgroup.Wrap(Repository.PublishedBinary) : cgroup.Wrap("dotnet", FunctionProcess.FunctionDll());
        output.WriteLine($"function: {(aot ? "Native AOT binary" : "dotnet cachier.dll (no published binary)")}");
        return FunctionProcess.StartAsync(file, arguments, new Dictionary<string, string> { ["Cachier__ApiServerUrl"] = _api.Url },
            clientTimeout: TimeSpan.FromSeconds(120), stderr: output);
    }

    public void Dispose()
    {
        // The function (disposed by the test) has exited and been waited for: the cgroup is empty.
        _cgroup?.Dispose();
        _api.Dispose();
    }
}
