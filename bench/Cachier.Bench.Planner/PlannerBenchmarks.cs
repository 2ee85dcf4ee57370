using System.Text;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using Cachier.Domain;

namespace Cachier.Bench.Planner;

/// <summary>The pure per-event work: read the object, plan its Images, fingerprint the plan.</summary>
[MemoryDiagnoser]
public class PlannerBenchmarks
{
    private byte[] _json = [];
    private JsonDocument? _document;
    private Workload? _workload;
    private ImagePlan? _plan;

    [Params(1, 10, 100)]
    public int Containers { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _json = Encoding.UTF8.GetBytes(DeploymentJson(Containers));
        _document = JsonDocument.Parse(_json);
        _workload = WorkloadReader.Read(_document.RootElement);
        _plan = ImagePlanner.Plan(_workload);
        if (_plan.Images.Count != Containers)
        {
            throw new InvalidOperationException($"expected {Containers} images, planned {_plan.Images.Count}");
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _document?.Dispose();

    [Benchmark]
    public Workload Read() => WorkloadReader.Read(_document!.RootElement);

    [Benchmark]
    public Workload ParseAndRead()
    {
        using var document = JsonDocument.Parse(_json);
        return WorkloadReader.Read(document.RootElement);
    }

    [Benchmark]
    public ImagePlan Plan() => ImagePlanner.Plan(_workload!);

    [Benchmark]
    public UInt128 Fingerprint() => PlanMemo.Fingerprint(_plan!);

    [Benchmark]
    public UInt128 EventPath()
    {
        using var document = JsonDocument.Parse(_json);
        return PlanMemo.Fingerprint(ImagePlanner.Plan(WorkloadReader.Read(document.RootElement)));
    }

    /// <summary>A Deployment as the API server returns it (managed fields and status included), N containers.</summary>
    public static string DeploymentJson(int containers)
    {
        var list = string.Join(",", Enumerable.Range(0, containers).Select(i => $$$"""
            {"name":"c{{{i}}}","image":"registry.example.com/team/service-{{{i}}}:1.{{{i}}}.0","ports":[{"containerPort":8080,"protocol":"TCP"}],
             "resources":{"requests":{"cpu":"10m","memory":"16Mi"}},"terminationMessagePath":"/dev/termination-log",
             "terminationMessagePolicy":"File","imagePullPolicy":"IfNotPresent"}
            """));
        return $$$"""
            {"kind":"Deployment","apiVersion":"apps/v1",
             "metadata":{"name":"bench","namespace":"demo","uid":"7d6c5b4a-3f2e-4d1c-8b9a-0e1f2a3b4c5d","resourceVersion":"123456",
              "generation":3,"creationTimestamp":"2026-11-20T10:21:40Z","labels":{"app":"bench"},
              "annotations":{"deployment.kubernetes.io/revision":"3"}},
             "spec":{"replicas":2,"selector":{"matchLabels":{"app":"bench"}},
              "template":{"metadata":{"labels":{"app":"bench"}},
               "spec":{"containers":[{{{list}}}],"restartPolicy":"Always","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst",
                "serviceAccountName":"bench-sa","serviceAccount":"bench-sa","imagePullSecrets":[{"name":"regcred"}],"schedulerName":"default-scheduler"}},
              "strategy":{"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":"25%","maxSurge":"25%"}},"revisionHistoryLimit":10,"progressDeadlineSeconds":600},
             "status":{"observedGeneration":3,"replicas":2,"updatedReplicas":2,"readyReplicas":2,"availableReplicas":2,
              "conditions":[{"type":"Available","status":"True","lastUpdateTime":"2026-11-20T10:22:00Z","lastTransitionTime":"2026-11-20T10:22:00Z","reason":"MinimumReplicasAvailable","message":"Deployment has minimum availability."}]}}
            """;
    }
}
