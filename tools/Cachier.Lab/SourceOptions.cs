using System.Globalization;

namespace Cachier.Lab;

/// <summary>The options of <c>cachier-lab source</c>.</summary>
internal sealed class SourceOptions
{
    public const string Help = """
        cachier-lab source: a stand-in for a Knative ApiServerSource (and a PingSource) on a machine without Knative.

        Watches the given resources on the API server of a kubeconfig and POSTs every change to a sink exactly as the
        ApiServerSource receive adapter does: binary-mode CloudEvents (Ce-* headers, Kn-Namespace), types
        dev.knative.apiserver.ref.{add,update,delete} (Reference mode, data = the object reference) or
        dev.knative.apiserver.resource.{add,update,delete} (Resource mode, data = the whole object), source = the API
        server address, subject = the guessed self link, extensions apiversion, kind, name, namespace. Objects that
        exist when it starts (or that change while it lists again after 410 Gone) get no event, as with the adapter.
        Delivery as the adapter's: a 2xx is done; 404, 413, 425, 429, 502, 503, 504 and failed connections are retried
        5 times after 50, 100, 200, 400, 800 ms; anything else (500 too) is final; then the event is dropped.
        Events of one resource are delivered one after the other, in watch order.
        One line per delivery on stdout: delivered|dropped TYPE KIND NS/NAME -> STATUS after N attempts.

        usage: cachier-lab source --sink URL [options]

          --sink URL                 where events go (required)
          --resource RESOURCE        repeatable; group/version/plural (apps/v1/deployments, v1/pods) or
                                     Kind.version.group (Deployment.v1.apps, CronJob.v1beta1.batch), optionally
                                     ?SELECTOR, a label selector for that resource (apps/v1/deployments?app=web)
          --mode Reference|Resource  what the data carries (default Reference)
          --namespace NS             watch one namespace (default: all)
          --kubeconfig PATH          default $KUBECONFIG, then ~/.kube/config
          --source-namespace NS      the ApiServerSource's (and PingSource's) namespace: the Kn-Namespace header
                                     and the ping's source (default default)
          --source-name NAME         the PingSource's name in the ping's source (default cachier-lab)
          --ping-every DURATION      also send dev.knative.sources.ping on this period (500ms, 30s, 5m, 1h)
          --ping-sink URL            where pings go (default: --sink)
          --ping-now                 send one ping at start
          --audience AUD             send Authorization: Bearer with a token for this audience ...
          --service-account NS/NAME  ... of this ServiceAccount, from the TokenRequest API (1 h, renewed at 80%)
          --token-file PATH          or: send the token in this file (read on every delivery)
          --help                     this text

        Stops cleanly on SIGTERM or Ctrl-C.
        """;

    public List<ResourceSpec> Resources { get; } = [];

    public SourceMode Mode { get; private set; } = SourceMode.Reference;

    public Uri? Sink { get; private set; }

    public string? Namespace { get; private set; }

    public string? Kubeconfig { get; private set; }

    public string SourceNamespace { get; private set; } = "default";

    public string SourceName { get; private set; } = "cachier-lab";

    public TimeSpan? PingEvery { get; private set; }

    public Uri? PingSink { get; private set; }

    public bool PingNow { get; private set; }

    public string? Audience { get; private set; }

    public (string Namespace, string Name)? ServiceAccount { get; private set; }

    public string? TokenFile { get; private set; }

    public bool ShowHelp { get; private set; }

    /// <summary>Parses the arguments; <see cref="FormatException"/> names what is wrong.</summary>
    public static SourceOptions Parse(IReadOnlyList<string> args)
    {
        var o = new SourceOptions();
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            string? inline = null;
            if (arg.StartsWith("--", StringComparison.Ordinal) && arg.IndexOf('=', StringComparison.Ordinal) is var eq and > 0)
            {
                (arg, inline) = (arg[..eq], arg[(eq + 1)..]);
            }

            string Value() => inline ?? (i + 1 < args.Count ? args[++i] : throw new FormatException($"{arg} needs a value"));
            switch (arg)
            {
                case "--help" or "-h":
                    o.ShowHelp = true;
                    break;
                case "--sink":
                    o.Sink = Url(arg, Value());
                    break;
                case "--resource":
                    o.Resources.Add(ResourceSpec.Parse(Value()));
                    break;
                case "--mode":
                    o.Mode = Enum.TryParse<SourceMode>(Value(), ignoreCase: true, out var mode)
                        ? mode
                        : throw new FormatException("--mode is Reference or Resource");
                    break;
                case "--namespace":
                    o.Namespace = Value();
                    break;
                case "--kubeconfig":
                    o.Kubeconfig = Value();
                    break;
                case "--source-namespace":
                    o.SourceNamespace = Value();
                    break;
                case "--source-name":
                    o.SourceName = Value();
                    break;
                case "--ping-every":
                    o.PingEvery = Duration(Value());
                    break;
                case "--ping-sink":
                    o.PingSink = Url(arg, Value());
                    break;
                case "--ping-now":
                    o.PingNow = true;
                    break;
                case "--audience":
                    o.Audience = Value();
                    break;
                case "--service-account":
                    var account = Value().Split('/');
                    o.ServiceAccount = account is [{ Length: > 0 } ns, { Length: > 0 } name]
                        ? (ns, name)
                        : throw new FormatException("--service-account is NAMESPACE/NAME");
                    break;
                case "--token-file":
                    o.TokenFile = Value();
                    break;
                default:
                    throw new FormatException($"unknown option {args[i]}");
            }
        }

        if (o.ShowHelp)
        {
            return o;
        }

        if (o.Sink is null)
        {
            throw new FormatException("--sink is required");
        }

        if (o.Resources.Count == 0 && o.PingEvery is null && !o.PingNow)
        {
            throw new FormatException("nothing to do: give --resource, --ping-every or --ping-now");
        }

        if ((o.Audience is null) != (o.ServiceAccount is null))
        {
            throw new FormatException("--audience and --service-account go together");
        }

        if (o.Audience is not null && o.TokenFile is not null)
        {
            throw new FormatException("--token-file or --audience/--service-account, not both");
        }

        return o;
    }

    /// <summary><c>500ms</c>, <c>30s</c>, <c>5m</c>, <c>1h</c>, or plain seconds.</summary>
    public static TimeSpan Duration(string text)
    {
        var (number, unit) = text.EndsWith("ms", StringComparison.Ordinal) ? (text[..^2], 0.001)
            : text.EndsWith('s') ? (text[..^1], 1)
            : text.EndsWith('m') ? (text[..^1], 60)
            : text.EndsWith('h') ? (text[..^1], 3600)
            : (text, 1.0);
        return double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value > 0
            ? TimeSpan.FromSeconds(value * unit)
            : throw new FormatException($"'{text}' is not a duration (500ms, 30s, 5m, 1h)");
    }

    private static Uri Url(string option, string text) =>
        Uri.TryCreate(text, UriKind.Absolute, out var url) && url.Scheme is "http" or "https"
            ? url
            : throw new FormatException($"{option} '{text}' is not an http(s) URL");
}
