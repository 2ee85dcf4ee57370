using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Cachier.Diagnostics;

/// <summary>
/// The console log for a redirected stdout (a container's log): each entry formatted straight to UTF-8 into a
/// per-thread buffer, byte for byte what Microsoft.Extensions.Logging's JSON console formatter (or its simple one,
/// single line) writes, and handed to one <see cref="LineWriter"/> that writes them in batches. The console logger
/// it replaces formatted to a string, converted it to UTF-8, and made one write system call per line, a fifth of the
/// steady state's cost (the bench's log-line-off row). Scopes are not written, as by the console formatters' default.
/// </summary>
[ProviderAlias("Console")]
public sealed class LineLoggerProvider(LineFormat format, LineWriter writer) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new LineLogger(categoryName, format, writer);

    public void Dispose() => writer.Dispose();
}

public enum LineFormat { Json, Simple }

public sealed class LineLogger(string category, LineFormat format, LineWriter writer) : ILogger
{
    private const int KeepBytes = 64 * 1024;

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_buffer;

    [ThreadStatic]
    private static Utf8JsonWriter? t_json;

    private readonly byte[] _categoryUtf8 = Encoding.UTF8.GetBytes(category);

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (!IsEnabled(logLevel))
        {
            return;
        }

        var message = formatter(state, exception);
        var buffer = t_buffer ??= new ArrayBufferWriter<byte>(1024);
        if (format == LineFormat.Json)
        {
            // Non-generic from here on, as in the console formatter: no code per TState.
            WriteJson(buffer, logLevel, eventId.Id, message, exception?.ToString(), state is not null, state as IReadOnlyList<KeyValuePair<string, object?>>);
        }
        else
        {
            WriteSimple(buffer, logLevel, eventId.Id, message, exception?.ToString());
        }

        writer.Write(buffer.WrittenSpan, urgent: logLevel >= LogLevel.Error);
        if (buffer.Capacity > KeepBytes)
        {
            // One huge line (a long exception) does not keep its buffer for the thread's lifetime.
            t_buffer = null;
            t_json = null;
        }
        else
        {
            buffer.ResetWrittenCount();
        }
    }

    private void WriteJson(ArrayBufferWriter<byte> buffer, LogLevel level, int eventId, string message, string? exception,
        bool hasState, IReadOnlyList<KeyValuePair<string, object?>>? properties)
    {
        var json = t_json;
        if (json is null)
        {
            // The console formatter's JsonWriterOptions default: compact, the default (HTML-safe) encoder.
            json = t_json = new Utf8JsonWriter(buffer);
        }
        else
        {
            json.Reset(buffer);
        }

        json.WriteStartObject();
        Span<byte> stamp = stackalloc byte[32];
        DateTimeOffset.UtcNow.TryFormat(stamp, out var stampLength, "yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);
        json.WriteString("Timestamp"u8, stamp[..stampLength]);
        json.WriteNumber("EventId"u8, eventId);
        json.WriteString("LogLevel"u8, JsonLevel(level));
        json.WriteString("Category"u8, _categoryUtf8);
        json.WriteString("Message"u8, message);
        if (exception is not null)
        {
            json.WriteString("Exception"u8, exception);
        }

        if (hasState)
        {
            json.WriteStartObject("State"u8);
            if (properties is not null)
            {
                for (var i = 0; i < properties.Count; i++)
                {
                    WriteItem(json, properties[i]);
                }
            }

            json.WriteEndObject();
        }

        json.WriteEndObject();
        json.Flush();
        buffer.Write("\n"u8);
    }

    /// <summary>A state property as the console formatter writes it: numbers and booleans as such, the rest as invariant text.</summary>
    private static void WriteItem(Utf8JsonWriter json, KeyValuePair<string, object?> item)
    {
        var key = item.Key;
        switch (item.Value)
        {
            case bool v: json.WriteBoolean(key, v); break;
            case byte v: json.WriteNumber(key, v); break;
            case sbyte v: json.WriteNumber(key, v); break;
            case char v: json.WriteString(key, new ReadOnlySpan<char>(in v)); break;
            case decimal v: json.WriteNumber(key, v); break;
            case double v: json.WriteNumber(key, v); break;
            case float v: json.WriteNumber(key, v); break;
            case int v: json.WriteNumber(key, v); break;
            case uint v: json.WriteNumber(key, v); break;
            case long v: json.WriteNumber(key, v); break;
            case ulong v: json.WriteNumber(key, v); break;
            case short v: json.WriteNumber(key, v); break;
            case ushort v: json.WriteNumber(key, v); break;
            case null: json.WriteNull(key); break;
            default: json.WriteString(key, Convert.ToString(item.Value, CultureInfo.InvariantCulture)); break;
        }
    }

    /// <summary><c>info: Category[EventId] message</c>, newlines in the message and the exception replaced by spaces.</summary>
    private void WriteSimple(ArrayBufferWriter<byte> buffer, LogLevel level, int eventId, string message, string? exception)
    {
        buffer.Write(SimpleLevel(level));
        buffer.Write(": "u8);
        buffer.Write(_categoryUtf8);
        buffer.Write("["u8);
        var digits = buffer.GetSpan(11);
        eventId.TryFormat(digits, out var written, default, CultureInfo.InvariantCulture);
        buffer.Advance(written);
        buffer.Write("]"u8);
        WriteMessage(buffer, message);
        if (exception is not null)
        {
            WriteMessage(buffer, exception);
        }

        buffer.Write("\n"u8);
    }

    private static void WriteMessage(ArrayBufferWriter<byte> buffer, string message)
    {
        if (string.IsNullOrEmpty(message))
        {
            return;
        }

        buffer.Write(" "u8);
        var text = message.AsSpan();
        while (text.IndexOf(Environment.NewLine) is var at and >= 0)
        {
            WriteUtf8(buffer, text[..at]);
            buffer.Write(" "u8);
            text = text[(at + Environment.NewLine.Length)..];
        }

        WriteUtf8(buffer, text);
    }

    private static void WriteUtf8(ArrayBufferWriter<byte> buffer, ReadOnlySpan<char> text)
    {
        var span = buffer.GetSpan(Encoding.UTF8.GetMaxByteCount(text.Length));
        buffer.Advance(Encoding.UTF8.GetBytes(text, span));
    }

    private static ReadOnlySpan<byte> JsonLevel(LogLevel level) => level switch
    {
        LogLevel.Trace => "Trace"u8,
        LogLevel.Debug => "Debug"u8,
        LogLevel.Information => "Information"u8,
        LogLevel.Warning => "Warning"u8,
        LogLevel.Error => "Error"u8,
        LogLevel.Critical => "Critical"u8,
        _ => throw new ArgumentOutOfRangeException(nameof(level)),
    };

    private static ReadOnlySpan<byte> SimpleLevel(LogLevel level) => level switch
    {
        LogLevel.Trace => "trce"u8,
        LogLevel.Debug => "dbug"u8,
        LogLevel.Information => "info"u8,
        LogLevel.Warning => "warn"u8,
        LogLevel.Error => "fail"u8,
        LogLevel.Critical => "crit"u8,
        _ => throw new ArgumentOutOfRangeException(nameof(level)),
    };
}
