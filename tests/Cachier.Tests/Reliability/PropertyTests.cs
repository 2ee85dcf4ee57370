using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Cachier.Domain;
using Cachier.Http;
using Cachier.Kubernetes;
using CloudNative.CloudEvents;
using CsCheck;
using Microsoft.AspNetCore.Http;

namespace Cachier.Tests.Reliability;

/// <summary>Random inputs for the edge and the planner (CsCheck); each generator leans towards the shapes that reach deep code.</summary>
public static partial class Generators
{
    public static readonly string[] Keys =
    [
        "apiVersion", "kind", "metadata", "name", "namespace", "uid", "generation", "annotations", "ownerReferences", "controller",
        "spec", "template", "jobTemplate", "containers", "initContainers", "image", "serviceAccountName", "imagePullSecrets", "data",
    ];

    public static readonly Gen<string> DnsLabel =
        Gen.Select(Gen.Char["abcdefghijklmnopqrstuvwxyz0123456789"], Gen.String[Gen.Char["abcdefghijklmnopqrstuvwxyz0123456789-"], 0, 61],
                Gen.Char["abcdefghijklmnopqrstuvwxyz0123456789"], Gen.Bool)
            .Select((first, middle, last, single) => single ? first.ToString() : first + middle + last);

    /// <summary>Kubernetes object names: DNS-1123 subdomains of up to 253 characters, often long.</summary>
    public static readonly Gen<string> DnsSubdomain = DnsLabel.Array[1, 5].Select(labels => string.Join('.', labels)).Where(n => n.Length <= 253);

    public static readonly Gen<string> Hostile = Gen.OneOf(
        Gen.String,
        Gen.String[Gen.Char["aA./-_%\\ \r\n\t\u0000é\u200d"], 0, 12],
        Gen.OneOf(Gen.Const(""), Gen.Const(".."), Gen.Const("../x"), Gen.Const("a/b"), Gen.Const("%2e%2e"), Gen.Const("Web"), Gen.Const(new string('a', 300))));

    public static readonly Gen<string> AnyName = Gen.Frequency((6, DnsSubdomain), (1, DnsLabel), (3, Hostile));

    public static readonly Gen<string> Kind = Gen.OneOf(
        Gen.OneOf(Gen.Const("Deployment"), Gen.Const("ReplicaSet"), Gen.Const("StatefulSet"), Gen.Const("DaemonSet"), Gen.Const("Job"),
            Gen.Const("CronJob"), Gen.Const("Secret"), Gen.Const("ConfigMap"), Gen.Const("deployment")),
        Hostile);

    public static readonly Gen<string> ApiVersion = Gen.OneOf(
        Gen.OneOf(Gen.Const("apps/v1"), Gen.Const("batch/v1"), Gen.Const("v1"), Gen.Const("apps/v1beta1"), Gen.Const("batch/v1beta1")),
        Hostile);

    public static readonly Gen<JsonNode?> Leaf = Gen.Frequency<JsonNode?>(
        (1, Gen.Const<JsonNode?>((JsonNode?)null)),
        (2, Gen.Int.Select(i => (JsonNode?)JsonValue.Create(i))),
        (1, Gen.Long.Select(i => (JsonNode?)JsonValue.Create(i))),
        (1, Gen.Double.Where(double.IsFinite).Select(d => (JsonNode?)JsonValue.Create(d))),
        (1, Gen.Bool.Select(b => (JsonNode?)JsonValue.Create(b))),
        (4, AnyName.Select(s => (JsonNode?)JsonValue.Create(s))));

    /// <summary>Random JSON whose property names are often the ones Cachier reads.</summary>
    public static Gen<JsonNode?> Json(int depth) => depth <= 0
        ? Leaf
        : Gen.Frequency(
            (3, Leaf),
            (2, Gen.Select(Gen.Frequency((3, Gen.OneOf(Keys.Select(k => Gen.Const(k)).ToArray())), (1, Gen.String[0, 8])), Json(depth - 1)).Array[0, 6]
                .Select(pairs => (JsonNode?)new JsonObject(pairs.DistinctBy(p => p.Item1).Select(p => KeyValuePair.Create(p.Item1, p.Item2))))),
            (1, Json(depth - 1).Array[0, 4].Select(items => (JsonNode?)new JsonArray(items))));

    /// <summary>An object shaped like a workload, with random values where it counts.</summary>
    public static readonly Gen<JsonNode?> WorkloadLike =
        Gen.Select(ApiVersion, Kind, AnyName, AnyName, Gen.Frequency((3, Gen.Guid.Select(g => (JsonNode?)g.ToString())), (1, Leaf)), Leaf, Json(3), Json(2))
            .Select((apiVersion, kind, name, ns, uid, generation, spec, annotations) => (JsonNode?)new JsonObject
            {
                ["apiVersion"] = apiVersion,
                ["kind"] = kind,
                ["metadata"] = new JsonObject
                {
                    ["name"] = name,
                    ["namespace"] = ns,
                    ["uid"] = uid,
                    ["generation"] = generation,
                    ["annotations"] = annotations,
                },
                ["spec"] = new JsonObject { ["template"] = new JsonObject { ["spec"] = spec } },
            });

    public static readonly Gen<JsonNode?> Data = Gen.Frequency((3, Json(4)), (3, WorkloadLike));

    public static readonly Gen<string> EventType = Gen.Frequency(
        (6, Gen.Select(Gen.OneOf(Gen.Const(EventParser.ResourcePrefix), Gen.Const(EventParser.RefPrefix)),
            Gen.OneOf(Gen.Const("add"), Gen.Const("update"), Gen.Const("delete"), Gen.String[0, 6])).Select((p, v) => p + v)),
        (1, Gen.Const(EventParser.PingType)),
        (1, Hostile));

    /// <summary>Extension values: absent, a string, or another type the CloudEvents type system has.</summary>
    public static readonly Gen<object?> Extension = Gen.Frequency<object?>(
        (2, Gen.Const<object?>((object?)null)),
        (6, AnyName.Select(s => (object?)s)),
        (1, Gen.Int.Select(i => (object?)i)),
        (1, Gen.Bool.Select(b => (object?)b)));

    public sealed record RandomEvent(string Type, object? ApiVersion, object? Kind, object? Namespace, object? Name, string? Data)
    {
        public CloudEvent Build()
        {
            var cloudEvent = new CloudEvent(CloudEventsSpecVersion.V1_0)
            {
                Id = "1",
                Source = new Uri("https://10.96.0.1:443"),
                DataContentType = "application/json",
            };
            // The SDK itself refuses some values (control characters); the binding answers those with 400 before the parser.
            TrySet(() => cloudEvent.Type = Type);
            TrySet(() => cloudEvent[Attribute("apiversion", ApiVersion)] = ApiVersion);
            TrySet(() => cloudEvent[Attribute("kind", Kind)] = Kind);
            TrySet(() => cloudEvent[Attribute("namespace", Namespace)] = Namespace);
            TrySet(() => cloudEvent[Attribute("name", Name)] = Name);
            if (Data is not null)
            {
                using var doc = JsonDocument.Parse(Data);
                cloudEvent.Data = doc.RootElement.Clone();
            }

            return cloudEvent;
        }

        private static CloudEventAttribute Attribute(string name, object? value) => CloudEventAttribute.CreateExtension(name, value switch
        {
            int => CloudEventAttributeType.Integer,
            bool => CloudEventAttributeType.Boolean,
            _ => CloudEventAttributeType.String,
        });

        private static void TrySet(Action set)
        {
            try
            {
                set();
            }
            catch (ArgumentException)
            {
            }
        }
    }

    private static readonly Gen<RandomEvent> Incoherent =
        Gen.Select(EventType, Extension, Extension, Extension, Extension, Data)
            .Select((type, apiVersion, kind, ns, name, data) => new RandomEvent(type, apiVersion, kind, ns, name, data?.ToJsonString()));

    private static readonly (string ApiVersion, string Kind)[] Configured =
        [("apps/v1", "Deployment"), ("apps/v1", "ReplicaSet"), ("apps/v1", "StatefulSet"), ("apps/v1", "DaemonSet"), ("batch/v1", "Job"), ("batch/v1", "CronJob")];

    /// <summary>Events of configured kinds with valid names, whose data (reference or object) mostly agrees with the extensions.</summary>
    private static readonly Gen<RandomEvent> Coherent = Gen.Select(
        Gen.OneOf(Configured.Select(c => Gen.Const(c)).ToArray()),
        DnsLabel,
        DnsSubdomain,
        Gen.OneOf(Gen.Const(EventParser.ResourcePrefix), Gen.Const(EventParser.RefPrefix)),
        Gen.OneOf(Gen.Const("add"), Gen.Const("update"), Gen.Const("delete")),
        Gen.Frequency((3, Json(3)), (1, Leaf)),
        Gen.Select(Leaf, Json(2)),
        Gen.Frequency((6, Gen.Const(-1)), (1, Gen.Int[0, 5])),
        (target, ns, name, prefix, verb, spec, extra, mutate) =>
        {
            var (generation, annotations) = extra;
            JsonNode data = prefix == EventParser.RefPrefix
                ? new JsonObject { ["kind"] = target.Kind, ["namespace"] = ns, ["name"] = name, ["apiVersion"] = target.ApiVersion }
                : new JsonObject
                {
                    ["apiVersion"] = target.ApiVersion,
                    ["kind"] = target.Kind,
                    ["metadata"] = new JsonObject
                    {
                        ["name"] = name,
                        ["namespace"] = ns,
                        ["uid"] = Guid.NewGuid().ToString(),
                        ["generation"] = generation,
                        ["annotations"] = annotations,
                    },
                    ["spec"] = new JsonObject { ["template"] = new JsonObject { ["spec"] = spec } },
                };
            // Sometimes one extension is missing (the data must say it) or the data names something else.
            object?[] extensions = [target.ApiVersion, target.Kind, ns, name];
            if (mutate is >= 0 and < 4)
            {
                extensions[mutate] = null;
            }
            else if (mutate == 4)
            {
                data["metadata"]?.AsObject().Remove("name");
            }
            else if (mutate == 5)
            {
                data = new JsonArray(data);
            }

            return new RandomEvent(prefix + verb, extensions[0], extensions[1], extensions[2], extensions[3], data.ToJsonString());
        });

    public static readonly Gen<RandomEvent> CloudEvents = Gen.Frequency((1, Incoherent), (2, Coherent));

    /// <summary>Workloads for the planner: SPEC-shaped names and uids, image lists with duplicates and empties.</summary>
    public static readonly Gen<Workload> Workloads =
        Gen.Select(
            DnsSubdomain,
            Gen.Guid.Select(g => g.ToString()),
            Gen.Frequency((4, Gen.Long[0, 100_000]), (1, Gen.Long[0, long.MaxValue])),
            Gen.OneOf(Gen.Const<string?>((string?)null), Gen.OneOf(new[] { "true", "on", "enable", "enabled", "false", "off", "disable", "disabled", "TRUE", " On ", "Disabled", "yes", "" }.Select(k => Gen.Const(k)).ToArray()).Select(s => (string?)s), Gen.String.Select(s => (string?)s)),
            Gen.Bool,
            Gen.Frequency(
                (3, Gen.OneOf(Gen.Const("nginx:1.25"), Gen.Const("redis:7"), Gen.Const(""), Gen.Const("gcr.io/a/b@sha256:" + new string('0', 64)), Gen.Const("NGINX"))),
                (1, Gen.String[0, 300])).Array[0, 12],
            Gen.Frequency((3, Gen.Const<string?>((string?)null)), (1, DnsLabel.Select(s => (string?)s))),
            DnsLabel.Array[0, 3],
            Gen.Frequency((9, Gen.Const(true)), (1, Gen.Const(false))),
            (name, uid, generation, decorate, controlled, images, serviceAccount, secrets, hasPod) =>
            new Workload("apps/v1", "Deployment", "ns", name, uid, generation, decorate, controlled,
                hasPod ? new PodTemplate(images, serviceAccount, secrets) : null));
}

/// <summary>
/// Issue 8, property-based: the edge (binding and parser) throws nothing but its documented rejections whatever it is fed,
/// and the planner's output always satisfies the SPEC's invariants.
/// </summary>
public sealed partial class PropertyTests
{
    private static readonly CachierSettings Settings = new(new CachierOptions());

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")]
    private static partial Regex Dns1123Subdomain();

    [GeneratedRegex("^[0-9]{5,}$")]
    private static partial Regex FiveOrMoreDigits();

    [Fact]
    public void Parser_returns_a_validated_inbound_or_throws_only_bad_event()
    {
        int rejected = 0, ignored = 0, references = 0, objects = 0;
        Generators.CloudEvents.Sample(random =>
        {
            var cloudEvent = random.Build();
            Inbound inbound;
            try
            {
                inbound = EventParser.Parse(cloudEvent, Settings);
            }
            catch (BadEventException)
            {
                rejected++;
                return;
            }

            ignored += inbound is IgnoredInbound ? 1 : 0;
            references += inbound is WorkloadInbound { Event.Object: null } ? 1 : 0;
            objects += inbound is WorkloadInbound { Event.Object: not null } ? 1 : 0;

            if (inbound is WorkloadInbound { Event: var ev })
            {
                Assert.True(Names.IsDnsLabel(ev.Ref.Namespace) && Dns1123Subdomain().IsMatch(ev.Ref.Name) && ev.Ref.Name.Length <= 253,
                    $"a workload event names {ev.Ref}");
                Assert.NotNull(ResourceKind.Find(Settings.Kinds, ev.Ref.ApiVersion, ev.Ref.Kind));
                if (ev.Object is { } workload)
                {
                    Assert.Equal(ev.Ref, workload.Ref);
                }
            }
        }, iter: 20_000, threads: 1);

        // The generators reach every branch, not only the first rejection.
        Assert.All(new[] { rejected, ignored, references, objects }, count => Assert.True(count > 100, $"{rejected} rejected, {ignored} ignored, {references} references, {objects} objects"));
    }

    [Fact]
    public async Task Binding_and_parser_of_byte_mutated_events_throw_only_their_documented_rejections()
    {
        var resource = Encoding.UTF8.GetBytes(new JsonObject
        {
            ["specversion"] = "1.0",
            ["id"] = "1",
            ["source"] = "/s",
            ["type"] = "dev.knative.apiserver.resource.update",
            ["data"] = Objects.Deployment("web", "0f0e0d0c-0b0a-4909-8807-060504030201", 2, ["nginx:1.25", "redis:7"]),
        }.ToJsonString());
        var mutations = Gen.Select(Gen.Int[0, resource.Length - 1], Gen.Byte).Array[1, 4];

        await mutations.SampleAsync(async changes =>
        {
            var body = (byte[])resource.Clone();
            foreach (var (at, value) in changes)
            {
                body[at] = value;
            }

            var context = new DefaultHttpContext();
            context.Request.Method = "POST";
            context.Request.ContentType = "application/cloudevents+json";
            context.Request.Body = new MemoryStream(body);
            context.Request.ContentLength = body.Length;
            try
            {
                foreach (var cloudEvent in await CloudEventBinding.ReadAsync(context.Request, new CachierOptions { MaxRequestBodyBytes = 64 * 1024 }, new BodyBudget(long.MaxValue).Open(), CancellationToken.None))
                {
                    _ = EventParser.Parse(cloudEvent, Settings);
                }
            }
            catch (Exception e) when (e is BindingException or BadEventException)
            {
            }
        }, iter: 20_000, threads: 1);
    }

    [Fact]
    public async Task Binding_and_parser_of_random_utf8_requests_throw_only_their_documented_rejections()
    {
        var requests = Gen.Select(
            Gen.OneOf(Gen.Const<string?>((string?)null), Gen.Const<string?>("application/json"), Gen.Const<string?>("application/cloudevents+json"),
                Gen.Const<string?>("application/cloudevents-batch+json"), Gen.Const<string?>("text/plain"), Generators.Hostile.Select(s => (string?)s)),
            Gen.Bool,
            Gen.Select(Generators.EventType, Generators.AnyName, Generators.AnyName, Generators.Kind),
            Gen.Frequency(
                (3, Generators.Data.Select(d => d?.ToJsonString() ?? "null")),
                (2, Generators.CloudEvents.Select(e => StructuredJson(e))),
                (1, Generators.CloudEvents.Array[0, 3].Select(es => "[" + string.Join(',', es.Select(StructuredJson)) + "]")),
                (1, Gen.String)))
            .Select((contentType, binary, attributes, body) => (contentType, binary, attributes, body));

        await requests.SampleAsync(async sample =>
        {
            var (contentType, binary, (type, ns, name, kind), body) = sample;
            var context = new DefaultHttpContext();
            context.Request.Method = "POST";
            context.Request.ContentType = contentType;
            var bytes = Encoding.UTF8.GetBytes(body);
            context.Request.Body = new MemoryStream(bytes);
            context.Request.ContentLength = bytes.Length;
            if (binary)
            {
                context.Request.Headers["ce-specversion"] = "1.0";
                context.Request.Headers["ce-id"] = "1";
                context.Request.Headers["ce-source"] = "/s";
                context.Request.Headers["ce-type"] = type;
                context.Request.Headers["ce-namespace"] = ns;
                context.Request.Headers["ce-name"] = name;
                context.Request.Headers["ce-kind"] = kind;
                context.Request.Headers["ce-apiversion"] = "apps/v1";
            }

            try
            {
                foreach (var cloudEvent in await CloudEventBinding.ReadAsync(context.Request, new CachierOptions { MaxRequestBodyBytes = 64 * 1024 }, new BodyBudget(long.MaxValue).Open(), CancellationToken.None))
                {
                    _ = EventParser.Parse(cloudEvent, Settings);
                }
            }
            catch (BindingException e)
            {
                Assert.Contains(e.Status, new[] { 400, 413, 415 });
            }
            catch (BadEventException)
            {
            }
        }, iter: 10_000, threads: 1);
    }

    [Fact]
    public void Planner_output_satisfies_the_spec_invariants()
    {
        Generators.Workloads.Sample(workload =>
        {
            var plan = ImagePlanner.Plan(workload);

            var decorate = workload.Decorate?.Trim().ToLowerInvariant();
            var cache = decorate is "true" or "on" or "enable" or "enabled" || (decorate is not ("false" or "off" or "disable" or "disabled") && !workload.HasController);
            Assert.Equal(cache && workload.Pod is not null, plan.Cache);
            if (!plan.Cache)
            {
                Assert.Empty(plan.Images);
                return;
            }

            var distinct = workload.Pod!.Images.Where(i => i.Length > 0).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
            Assert.Equal(distinct, plan.Images.Select(i => i.Image).Order(StringComparer.Ordinal));
            Assert.Equal(plan.Images.Count, plan.Images.Select(i => i.Name).Distinct(StringComparer.Ordinal).Count());
            Assert.Matches(FiveOrMoreDigits(), plan.GenerationLabel);
            Assert.Equal(workload.Generation, long.Parse(plan.GenerationLabel, CultureInfo.InvariantCulture));
            foreach (var desired in plan.Images)
            {
                Assert.True(desired.Name.Length <= 63, $"{desired.Name} is {desired.Name.Length} characters");
                Assert.Matches(Dns1123Subdomain(), desired.Name);
                Assert.Equal(ExpectedNames.Image(workload.Name, workload.Uid, desired.Image), desired.Name);

                var image = ImageResources.Build(plan, desired);
                Assert.Equal((desired.Name, workload.Namespace, desired.Image), (image.Metadata.Name, image.Metadata.Namespace, image.Spec.Image));
                var owner = Assert.Single(image.Metadata.OwnerReferences!);
                Assert.Equal((workload.ApiVersion, workload.Kind, workload.Name, workload.Uid, true, true),
                    (owner.ApiVersion, owner.Kind, owner.Name, owner.Uid, owner.Controller, owner.BlockOwnerDeletion));
                Assert.Equal(workload.Uid, image.Metadata.Labels!["controller"]);
                Assert.Equal(plan.GenerationLabel, image.Metadata.Labels["generation"]);
                Assert.Equal("cachier", image.Metadata.Labels["app.kubernetes.io/managed-by"]);
            }

            // The order of containers never changes the plan.
            var reversed = ImagePlanner.Plan(workload with { Pod = workload.Pod with { Images = workload.Pod.Images.Reverse().ToList() } });
            Assert.Equal(plan.Images.Select(i => i.Name), reversed.Images.Select(i => i.Name));
        }, iter: 20_000);
    }

    private static string StructuredJson(Generators.RandomEvent e) => new JsonObject
    {
        ["specversion"] = "1.0",
        ["id"] = "1",
        ["source"] = "/s",
        ["type"] = e.Type,
        ["apiversion"] = e.ApiVersion is null ? null : JsonValue.Create(e.ApiVersion.ToString()),
        ["kind"] = e.Kind is null ? null : JsonValue.Create(e.Kind.ToString()),
        ["namespace"] = e.Namespace is null ? null : JsonValue.Create(e.Namespace.ToString()),
        ["name"] = e.Name is null ? null : JsonValue.Create(e.Name.ToString()),
        ["data"] = e.Data is null ? null : JsonNode.Parse(e.Data),
    }.ToJsonString();
}
