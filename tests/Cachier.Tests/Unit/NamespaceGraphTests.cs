using System.Reflection;
using System.Reflection.Emit;
using Xunit.Abstractions;

namespace Cachier.Tests.Unit;

/// <summary>
/// The namespaces of the function depend on each other without a cycle. The graph is read from the compiled
/// assembly, not from <c>using</c> lines (a child namespace sees its parent's types without one): for every type,
/// the types named by its base type, interfaces, attributes, fields, properties, method signatures and locals, and
/// every type, field and method token in its method bodies (closures and async state machines are nested types, so
/// they count for the type that wrote them).
/// </summary>
public class NamespaceGraphTests(ITestOutputHelper output)
{
    private static readonly Assembly Function = typeof(Program).Assembly;

    [Fact]
    public void Function_namespaces_depend_on_each_other_without_a_cycle()
    {
        var graph = Graph();
        foreach (var (from, to) in graph.OrderBy(e => e.Key))
        {
            output.WriteLine($"{from} -> {string.Join(", ", to.Order())}");
        }

        var cycle = FindCycle(graph);
        Assert.True(cycle is null, $"namespace cycle: {string.Join(" -> ", cycle ?? [])}\n"
            + string.Join("\n", (cycle ?? []).Zip((cycle ?? []).Skip(1)).Select(e => Examples.GetValueOrDefault(e))));
    }

    [Fact]
    public void The_graph_sees_calls_made_inside_async_methods_and_lambdas()
    {
        // ImageReconciler.RunAsync counts the Images written (Telemetry) inside its async state machine, and the
        // Extensions register services in lambdas: edges only a scan of nested compiler-generated types shows.
        var graph = Graph();
        Assert.Contains("Cachier.Diagnostics", graph["Cachier.Reconcile"]);
        Assert.Contains("Cachier.Kubernetes", graph["Cachier"]);
    }

    [Fact]
    public void The_edge_reaches_the_cluster_only_through_the_reconciler_port()
    {
        // The HTTP edge parses and hands inward: it reads an embedded object with Domain's reader, never an adapter.
        var graph = Graph();
        Assert.DoesNotContain("Cachier.Kubernetes", graph["Cachier.Http"]);
        Assert.Contains("Cachier.Reconcile", graph["Cachier.Http"]);
    }

    internal static Dictionary<string, HashSet<string>> Graph()
    {
        var graph = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        foreach (var type in Function.GetTypes())
        {
            var from = NamespaceOf(type);
            if (!Ours(from) || IsCompilerHelper(type))
            {
                continue;
            }

            if (!graph.TryGetValue(from, out var edges))
            {
                graph[from] = edges = new HashSet<string>(StringComparer.Ordinal);
            }

            foreach (var used in Uses(type))
            {
                foreach (var t in Expand(used))
                {
                    if (t.Assembly == Function && NamespaceOf(t) is var to && to != from && Ours(to) && !IsCompilerHelper(t) && edges.Add(to))
                    {
                        Examples[(from, to)] = $"{type.FullName} uses {t.FullName}";
                    }
                }
            }
        }

        return graph;
    }

    /// <summary>One type behind each edge, for the failure message.</summary>
    private static readonly Dictionary<(string From, string To), string> Examples = [];

    /// <summary>Top-level types of the compiler's own and theirs (closures and state machines are nested in the type that wrote them).</summary>
    private static bool IsCompilerHelper(Type type) => type.DeclaringType is { } outer ? IsCompilerHelper(outer) : type.Name.StartsWith('<');

    private static string NamespaceOf(Type type) => type.Namespace ?? "<global>";

    /// <summary>
    /// Cachier's namespaces and Program's; not the code generators' (their interceptors call back into the edge), nor the
    /// compiler's own top-level helpers (<c>&lt;PrivateImplementationDetails&gt;</c>).
    /// </summary>
    private static bool Ours(string ns) => ns == "<global>" || ns == "Cachier" || ns.StartsWith("Cachier.", StringComparison.Ordinal);

    /// <summary>A type with its generic arguments, element types and declaring types.</summary>
    private static IEnumerable<Type> Expand(Type? type)
    {
        if (type is null)
        {
            yield break;
        }

        yield return type;
        if (type.HasElementType)
        {
            foreach (var t in Expand(type.GetElementType()))
            {
                yield return t;
            }
        }

        if (type.IsGenericType && !type.IsGenericTypeDefinition)
        {
            foreach (var t in type.GetGenericArguments().SelectMany(Expand))
            {
                yield return t;
            }
        }
    }

    private const BindingFlags Declared = BindingFlags.DeclaredOnly | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static;

    private static IEnumerable<Type?> Uses(Type type)
    {
        yield return type.BaseType;
        foreach (var i in type.GetInterfaces())
        {
            yield return i;
        }

        foreach (var t in Attributes(type.GetCustomAttributesData()))
        {
            yield return t;
        }

        foreach (var f in type.GetFields(Declared))
        {
            yield return f.FieldType;
        }

        foreach (var p in type.GetProperties(Declared))
        {
            yield return p.PropertyType;
        }

        foreach (var m in type.GetMethods(Declared).Cast<MethodBase>().Concat(type.GetConstructors(Declared)))
        {
            if (m is MethodInfo mi)
            {
                yield return mi.ReturnType;
            }

            foreach (var p in m.GetParameters())
            {
                yield return p.ParameterType;
            }

            foreach (var t in Attributes(m.GetCustomAttributesData()))
            {
                yield return t;
            }

            if (m.GetMethodBody() is not { } body)
            {
                continue;
            }

            foreach (var local in body.LocalVariables)
            {
                yield return local.LocalType;
            }

            foreach (var t in BodyTypes(m, body.GetILAsByteArray() ?? []))
            {
                yield return t;
            }
        }
    }

    private static IEnumerable<Type?> Attributes(IEnumerable<CustomAttributeData> attributes) =>
        attributes.SelectMany(a => a.ConstructorArguments.Concat(a.NamedArguments.Select(n => n.TypedValue))
            .Select(v => v.Value as Type).Prepend(a.AttributeType));

    private static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value);

    /// <summary>The types behind every type, field and method token of one IL body.</summary>
    private static IEnumerable<Type?> BodyTypes(MethodBase method, byte[] il)
    {
        var typeArgs = method.DeclaringType is { IsGenericType: true } d ? d.GetGenericArguments() : null;
        var methodArgs = method.IsGenericMethod ? method.GetGenericArguments() : null;
        var at = 0;
        while (at < il.Length)
        {
            var value = il[at] == 0xFE ? (short)(0xFE00 | il[at + 1]) : il[at];
            at += il[at] == 0xFE ? 2 : 1;
            var op = OpCodesByValue[value];
            switch (op.OperandType)
            {
                case OperandType.InlineType or OperandType.InlineField or OperandType.InlineMethod or OperandType.InlineTok:
                    var member = method.Module.ResolveMember(BitConverter.ToInt32(il, at), typeArgs, methodArgs);
                    at += 4;
                    switch (member)
                    {
                        case Type t:
                            yield return t;
                            break;
                        case FieldInfo f:
                            yield return f.DeclaringType;
                            yield return f.FieldType;
                            break;
                        case MethodBase m:
                            yield return m.DeclaringType;
                            foreach (var g in m.IsGenericMethod ? m.GetGenericArguments() : [])
                            {
                                yield return g;
                            }

                            break;
                    }

                    break;
                case OperandType.InlineSwitch:
                    at += 4 + (4 * BitConverter.ToInt32(il, at));
                    break;
                case OperandType.InlineI8 or OperandType.InlineR:
                    at += 8;
                    break;
                case OperandType.InlineNone:
                    break;
                case OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar:
                    at += 1;
                    break;
                case OperandType.InlineVar:
                    at += 2;
                    break;
                default:
                    at += 4;
                    break;
            }
        }
    }

    /// <summary>A cycle as the list of namespaces along it (first = last), or null.</summary>
    private static List<string>? FindCycle(Dictionary<string, HashSet<string>> graph)
    {
        var done = new HashSet<string>(StringComparer.Ordinal);
        var path = new List<string>();

        List<string>? Visit(string node)
        {
            if (path.IndexOf(node) is var i and >= 0)
            {
                return [.. path[i..], node];
            }

            if (!done.Add(node))
            {
                return null;
            }

            path.Add(node);
            foreach (var next in graph.GetValueOrDefault(node) ?? [])
            {
                if (Visit(next) is { } cycle)
                {
                    return cycle;
                }
            }

            path.RemoveAt(path.Count - 1);
            return null;
        }

        return graph.Keys.Order(StringComparer.Ordinal).Select(Visit).FirstOrDefault(c => c is not null);
    }
}
