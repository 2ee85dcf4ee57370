using Cachier.Configuration;
using Cachier.Diagnostics;
using Cachier.Domain;
using Cachier.Http;
using Cachier.Kubernetes;
using Cachier.Reconcile;
using Cachier.Security;
using Microsoft.Extensions.DependencyInjection.Extensions;

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

        // Bound and validated once; this instance feeds the early connection, logging, Kestrel and every service.
        var options = CachierOptions.Bind(builder.Configuration);
        var services = builder.Services;
        var settings = new CachierSettings(options);
        services.AddSingleton(options);
        services.AddSingleton(settings);

        // The API server connection is made from now on, on a second thread, while the host is built: reading a
        // kubeconfig and loading OpenSSL take about 10 ms that would otherwise stand between start-up and the first event.
        var connecting = Task.Run(() => KubeConnection.FromOptions(options));
        // The services the start resolves (hosted services, what MapCachier takes) are made by factories, their loggers
        // by the logger factory: the container would find their constructors by reflection and make each ILogger<T> with
        // MakeGenericType, which Native AOT builds at run time, all on the start's path; CreateLogger<T> is compiled
        // ahead, with the same category.
        services.AddSingleton(sp => new KubeConnectionSource(connecting, settings, LoggerOf<KubeConnectionSource>(sp)));
        services.AddHostedService(sp => sp.GetRequiredService<KubeConnectionSource>());
        services.AddSingleton(sp => new StartCheck(sp.GetRequiredService<KubeConnectionSource>(), sp.GetRequiredService<KubeApi>(), LoggerOf<StartCheck>(sp)));
        services.AddHostedService(sp => sp.GetRequiredService<StartCheck>());
        services.AddSingleton(sp => new KubeApi(sp.GetRequiredService<KubeConnectionSource>(), settings));
        services.AddSingleton<IClusterApi>(sp => sp.GetRequiredService<KubeApi>());
        services.AddSingleton<IWarmApi>(sp => sp.GetRequiredService<KubeApi>());
        services.AddSingleton(sp => new Warmer(sp.GetRequiredService<IWarmApi>(), settings, sp.GetRequiredService<TimeProvider>(), LoggerOf<Warmer>(sp),
            sp.GetRequiredService<IHostApplicationLifetime>()));
        // Events on workloads: queued by the reconcile, written by the recorder's own loop.
        services.AddSingleton(sp => new EventRecorder(sp.GetRequiredService<KubeApi>(), sp.GetRequiredService<TimeProvider>(), LoggerOf<EventRecorder>(sp)));
        services.AddSingleton<IEventRecorder>(sp => sp.GetRequiredService<EventRecorder>());
        services.AddHostedService(sp => sp.GetRequiredService<EventRecorder>());
        services.AddSingleton(sp => new PlanMemo(options.MemoCapacity, options.MemoTtl, sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton(sp => new ImageReconciler(sp.GetRequiredService<IClusterApi>(), settings, sp.GetRequiredService<PlanMemo>(), sp.GetRequiredService<IEventRecorder>()));
        services.AddSingleton(sp => new Resyncer(sp.GetRequiredService<IClusterApi>(), sp.GetRequiredService<ImageReconciler>(), sp.GetRequiredService<IEventRecorder>(),
            settings, LoggerOf<Resyncer>(sp), sp.GetRequiredService<IHostApplicationLifetime>(), sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton(sp => new EventPipeline(sp.GetRequiredService<ImageReconciler>(), sp.GetRequiredService<Resyncer>(), sp.GetRequiredService<Warmer>(),
            settings, LoggerOf<EventPipeline>(sp)));
        services.AddSingleton(new BodyBudget(options.BodyMemoryBudgetBytes));

        // Who may send events: the issuer's keys are fetched over the same connection and cached.
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<IIssuerKeySource>(sp => new IssuerDiscovery(sp.GetRequiredService<KubeConnectionSource>(), settings));
        services.AddSingleton(sp => new IssuerKeyCache(sp.GetRequiredService<IIssuerKeySource>(), options.Authentication, sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton(sp => new SenderCheck(sp.GetRequiredService<IssuerKeyCache>(), options.Authentication));

        // Listening from now on, so that the first event is counted; the container disposes it with the host.
        var metrics = new MetricsText();
        services.AddSingleton(_ => metrics);
        services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Insert(0, AppJson.Default));
        services.AddProblemDetails();

        // One JSON object per log line (Cachier:LogFormat=simple for humans); levels from Logging:LogLevel.
        // A redirected stdout (a container's log, the bench, the tests) gets the batched writer of the same lines; a terminal
        // keeps the console logger (the simple format's colours).
        builder.Logging.ClearProviders();
        var simple = string.Equals(options.LogFormat, "simple", StringComparison.OrdinalIgnoreCase);
        if (Console.IsOutputRedirected)
        {
            builder.Logging.Services.AddSingleton<ILoggerProvider>(_ =>
                new LineLoggerProvider(simple ? LineFormat.Simple : LineFormat.Json, new LineWriter(Console.OpenStandardOutput())));
        }
        else if (simple)
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

        // Our own reader answers 413 with a problem body; Kestrel's limit is the backstop just above it.
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Limits.MaxRequestBodySize = options.MaxRequestBodyBytes + 1);
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
        var logger = LoggerOf<SenderFilter>(app.Services);
        if (senders.Required)
        {
            Log.AuthenticationOn(logger, settings.Options.Authentication.Audience, string.Join(", ", SenderAuthenticationSettings.Subjects(settings.Options.Authentication)));
            // The issuer's keys are fetched from now on, as soon as the connection is made, beside the host's start: fetched
            // once the port listened, a first event after a scale from zero waited for them (bench/RESULTS.md, auth on vs off).
            senders.Prefetch();
        }
        else
        {
            Log.AuthenticationOff(logger);
        }

        app.MapEventEndpoints(new SenderFilter(senders, logger, dapr: false));
        app.MapDaprEndpoints(settings.Options, new SenderFilter(senders, logger, dapr: true));
        var metrics = app.Services.GetRequiredService<MetricsText>();
        app.MapGet("/metrics", context =>
        {
            context.Response.ContentType = MetricsText.ContentType;
            return context.Response.WriteAsync(metrics.Render());
        });

        // What the first event's handler takes from the container is made as soon as the port listens, beside it: made by
        // that event, it stood in its way (ILogger<T> is built at run time under Native AOT).
        lifetime.ApplicationStarted.Register(() => ThreadPool.UnsafeQueueUserWorkItem(static services =>
        {
            try
            {
                _ = services.GetRequiredService<EventPipeline>();
                _ = services.GetRequiredService<ILogger<EventPipeline>>();
            }
            catch (Exception e) when (e is ObjectDisposedException or InvalidOperationException)
            {
                // Stopped already, or a service that cannot be made: the first event meets it as it would have.
            }
        }, app.Services, preferLocal: false));
        return app;
    }

    private static ILogger<T> LoggerOf<T>(IServiceProvider services) => services.GetRequiredService<ILoggerFactory>().CreateLogger<T>();

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
