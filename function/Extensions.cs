using Cachier.Http;
using Cachier.Kubernetes;
using Cachier.Reconcile;
using Cachier.Security;
using k8s;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;

namespace Cachier;

public static class Extensions
{
    /// <summary>Options, the one Kubernetes client, the reconciler and the pipeline.</summary>
    public static WebApplicationBuilder AddCachier(this WebApplicationBuilder builder, string[] args)
    {
        // cachier's flag syntax: --resource=Kind.version.group (repeatable), also -resource and "--resource X".
        var flags = ResourceFlags(args);
        if (flags.Count > 0)
        {
            builder.Configuration.AddInMemoryCollection(flags.Select((r, i) =>
                new KeyValuePair<string, string?>($"{CachierOptions.Section}:Resources:{i}", r)));
        }

        var services = builder.Services;
        services.AddOptions<CachierOptions>()
            .BindConfiguration(CachierOptions.Section)
            .PostConfigure<IConfiguration>((o, config) =>
            {
                // A single scalar (Cachier__Resources=a,b) lists several kinds.
                if (config[$"{CachierOptions.Section}:Resources"] is { Length: > 0 } scalar)
                {
                    o.Resources = [scalar];
                }

                if (config[$"{CachierOptions.Section}:Authentication:AllowedSubjects"] is { Length: > 0 } subjects)
                {
                    o.Authentication.AllowedSubjects = [subjects];
                }

                // Dapr's sidecar hands the app its API token in APP_API_TOKEN (unprefixed, as Dapr names it).
                o.Authentication.DaprApiToken ??= config[SenderAuthenticationSettings.DaprTokenVariable];
            })
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<CachierOptions>, CachierOptionsValidator>();
        services.AddSingleton(sp => new CachierSettings(sp.GetRequiredService<IOptions<CachierOptions>>().Value));

        // The API server connection is made from now on, on a second thread, while the host is built: reading a
        // kubeconfig and loading OpenSSL take about 10 ms that would otherwise stand between start-up and the first event.
        var connecting = KubeConnectionSource.Connect(builder.Configuration.GetSection(CachierOptions.Section));
        services.AddSingleton(sp => new KubeConnectionSource(
            connecting, sp.GetRequiredService<CachierSettings>(), sp.GetRequiredService<ILogger<KubeConnectionSource>>()));
        services.AddHostedService(sp => sp.GetRequiredService<KubeConnectionSource>());
        services.AddSingleton<KubeApi>();
        services.AddSingleton<IClusterApi>(sp => sp.GetRequiredService<KubeApi>());
        services.AddSingleton<IWarmApi>(sp => sp.GetRequiredService<KubeApi>());
        services.AddSingleton<Warmer>();
        services.AddSingleton(sp => new PlanMemo(sp.GetRequiredService<CachierSettings>().Options.MemoCapacity,
            sp.GetRequiredService<CachierSettings>().Options.MemoTtl, sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<KeyedLock>();
        services.AddSingleton<ImageReconciler>();
        services.AddSingleton<Resyncer>();
        services.AddSingleton<EventPipeline>();
        services.AddSingleton<BodyBudget>(sp => new BodyBudget(sp.GetRequiredService<CachierSettings>().Options.BodyMemoryBudgetBytes));

        // Who may send events: the issuer's keys are fetched over the same connection and cached.
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<IIssuerKeySource, IssuerDiscovery>();
        services.AddSingleton(sp => new IssuerKeyCache(sp.GetRequiredService<IIssuerKeySource>(),
            sp.GetRequiredService<CachierSettings>().Options.Authentication, sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton(sp => new SenderCheck(sp.GetRequiredService<IssuerKeyCache>(), sp.GetRequiredService<CachierSettings>().Options.Authentication));

        // The metrics pipeline is built beside the host too (it needs nothing from the container); the container owns
        // it from then on and disposes it with the host.
        var metrics = Task.Run(Telemetry.CreateMeterProvider);
        services.AddSingleton(_ => metrics.GetAwaiter().GetResult());
        services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Insert(0, AppJson.Default));
        services.AddProblemDetails();

        // One JSON object per log line (Cachier:LogFormat=simple for humans); levels from Logging:LogLevel.
        builder.Logging.ClearProviders();
        if (string.Equals(builder.Configuration[$"{CachierOptions.Section}:LogFormat"], "simple", StringComparison.OrdinalIgnoreCase))
        {
            builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        }
        else
        {
            builder.Logging.AddJsonConsole(o =>
            {
                o.UseUtcTimestamp = true;
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
            });
        }

        var port = Environment.GetEnvironmentVariable("PORT") is { Length: > 0 } p ? p : "8080";
        if (string.IsNullOrEmpty(builder.Configuration["urls"]) && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("ASPNETCORE_URLS")))
        {
            builder.WebHost.UseUrls($"http://0.0.0.0:{port}");
        }

        builder.WebHost.ConfigureKestrel((context, kestrel) =>
        {
            // Our own reader answers 413 with a problem body; Kestrel's limit is the backstop just above it.
            var limit = context.Configuration.GetValue<long?>($"{CachierOptions.Section}:{nameof(CachierOptions.MaxRequestBodyBytes)}") ?? new CachierOptions().MaxRequestBodyBytes;
            kestrel.Limits.MaxRequestBodySize = limit + 1;
        });
        return builder;
    }

    public static WebApplication MapCachier(this WebApplication app)
    {
        // Knative scale-down (SIGTERM): in-flight reconciles finish; new work is refused with 503 so it is redelivered.
        var lifetime = app.Services.GetRequiredService<IHostApplicationLifetime>();
        app.Use(async (context, next) =>
        {
            if (lifetime.ApplicationStopping.IsCancellationRequested && HttpMethods.IsPost(context.Request.Method))
            {
                context.Response.Headers.RetryAfter = "1";
                await Results.Problem("Cachier is shutting down; redeliver the event", statusCode: StatusCodes.Status503ServiceUnavailable).ExecuteAsync(context);
                return;
            }

            try
            {
                await next(context);
            }
            catch (OutOfMemoryException) when (!context.Response.HasStarted)
            {
                // Out of memory on the request path is this pod's trouble, not the event's: a direct ApiServerSource sink
                // redelivers a 503 but drops a 500.
                context.Response.Clear();
                context.Response.Headers.RetryAfter = "1";
                await Results.Problem("Cachier is short of memory; redeliver the event", statusCode: StatusCodes.Status503ServiceUnavailable).ExecuteAsync(context);
            }
        });

        var settings = app.Services.GetRequiredService<CachierSettings>();
        var senders = app.Services.GetRequiredService<SenderCheck>();
        var logger = app.Services.GetRequiredService<ILogger<SenderFilter>>();
        if (senders.Required)
        {
            Log.AuthenticationOn(logger, settings.Options.Authentication.Audience, string.Join(", ", SenderAuthenticationSettings.Subjects(settings.Options.Authentication)));
            lifetime.ApplicationStarted.Register(senders.Prefetch);
        }
        else
        {
            Log.AuthenticationOff(logger);
        }

        app.MapEventEndpoints(new SenderFilter(senders, logger, dapr: false));
        app.MapDaprEndpoints(settings.Options, new SenderFilter(senders, logger, dapr: true));
        app.MapPrometheusScrapingEndpoint("/metrics", app.Services.GetRequiredService<MeterProvider>(), configureBranchedPipeline: null, optionsName: null);
        return app;
    }

    /// <summary>In-cluster when KUBERNETES_SERVICE_HOST is set; else a plain URL, the configured kubeconfig, $KUBECONFIG or ~/.kube/config.</summary>
    public static KubeConnection CreateClient(CachierOptions options)
    {
        KubernetesClientConfiguration config;
        if (!string.IsNullOrEmpty(options.ApiServerUrl))
        {
            config = new KubernetesClientConfiguration { Host = options.ApiServerUrl };
        }
        else if (KubernetesClientConfiguration.IsInCluster())
        {
            config = KubernetesClientConfiguration.InClusterConfig();
        }
        else
        {
            var path = options.Kubeconfig
                ?? Environment.GetEnvironmentVariable("KUBECONFIG")?.Split(Path.PathSeparator).FirstOrDefault(p => p.Length > 0)
                ?? KubernetesClientConfiguration.KubeConfigDefaultLocation;
            if (!File.Exists(path))
            {
                throw new InvalidOperationException(
                    $"No Kubernetes connection: not in a cluster (KUBERNETES_SERVICE_HOST unset) and kubeconfig '{path}' does not exist. Set KUBECONFIG or Cachier__Kubeconfig.");
            }

            config = KubernetesClientConfiguration.BuildConfigFromConfigFile(path);
        }

        // Each call has its own timeout (Cachier:ApiTimeout); the HttpClient's is only the backstop.
        return new KubeConnection(config, options.ApiTimeout + TimeSpan.FromSeconds(5));
    }

    private static List<string> ResourceFlags(string[] args)
    {
        var found = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i].TrimStart('-');
            if (args[i].StartsWith('-') && arg.StartsWith("resource=", StringComparison.Ordinal))
            {
                found.Add(arg["resource=".Length..]);
            }
            else if (args[i] is "--resource" or "-resource" && i + 1 < args.Length)
            {
                found.Add(args[++i]);
            }
        }

        return found;
    }
}
