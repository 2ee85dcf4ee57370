namespace Cachier.Diagnostics;

/// <summary>
/// Log lines to one stream (stdout), written in batches by one background thread. Writing a line costs its caller a
/// copy under a lock; the write system call, one per batch rather than one per line, is made off the request path.
/// Bounded: past <see cref="MaxPendingBytes"/> waiting to be written (stdout not drained) a line is dropped and counted
/// (<c>cachier_log_lines_dropped_total</c>), so a stuck reader can neither grow memory nor stall the events.
/// </summary>
public sealed class LineWriter : IDisposable
{
    /// <summary>About 5,000 per-event lines; at the steady state's rate, seconds of a stalled reader.</summary>
    public const int MaxPendingBytes = 1 << 20;

    /// <summary>
    /// How long the writer lets a batch gather after its first line: at thousands of events per second this turns
    /// thousands of writes into at most a hundred; an Error line, shutdown or a full batch do not wait for it.
    /// </summary>
    public static readonly TimeSpan BatchWindow = TimeSpan.FromMilliseconds(10);

    private const int InitialBytes = 16 * 1024;

    private readonly Stream _out;
    private readonly object _gate = new(); // Monitor: Wait/Pulse (System.Threading.Lock has neither)
    private readonly Thread _thread;
    private byte[] _pending = new byte[InitialBytes];
    private byte[] _writing = new byte[InitialBytes];
    private int _length;
    private bool _urgent;
    private bool _stopping;
    private bool _stopped;
    private long _dropped;

    public LineWriter(Stream output)
    {
        _out = output;
        _thread = new Thread(Run) { IsBackground = true, Name = "cachier log writer" };
        _thread.Start();
    }

    /// <summary>Lines dropped because the reader fell <see cref="MaxPendingBytes"/> behind.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Queues one whole line (newline included); <paramref name="urgent"/> asks for it to be written at once.</summary>
    public void Write(ReadOnlySpan<byte> line, bool urgent = false)
    {
        lock (_gate)
        {
            if (_stopped)
            {
                // After the writer has stopped (a line logged during disposal): written at once, in order.
                WriteOut(line);
                return;
            }

            if (_length + line.Length > MaxPendingBytes)
            {
                Interlocked.Increment(ref _dropped);
                Telemetry.LogLineDropped();
                return;
            }

            if (_length + line.Length > _pending.Length)
            {
                Array.Resize(ref _pending, Math.Min(MaxPendingBytes, Math.Max(_pending.Length * 2, _length + line.Length)));
            }

            line.CopyTo(_pending.AsSpan(_length));
            var wasEmpty = _length == 0;
            _length += line.Length;
            _urgent |= urgent;
            if (wasEmpty || urgent || _length > _pending.Length / 2)
            {
                Monitor.Pulse(_gate);
            }
        }
    }

    /// <summary>Writes what is queued and stops the writer; later lines are written at once. Nothing queued is lost.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_stopping)
            {
                return;
            }

            _stopping = true;
            Monitor.Pulse(_gate);
        }

        // Bounded: a reader that never drains stdout must not hold the process up forever.
        _thread.Join(TimeSpan.FromSeconds(5));
    }

    private void Run()
    {
        while (true)
        {
            int length;
            lock (_gate)
            {
                while (_length == 0 && !_stopping)
                {
                    Monitor.Wait(_gate);
                }

                if (!_urgent && !_stopping && _length <= _pending.Length / 2)
                {
                    // Let the batch gather; an urgent line, a half-full buffer or shutdown ends the wait early.
                    Monitor.Wait(_gate, BatchWindow);
                }

                if (_length == 0 && _stopping)
                {
                    _stopped = true;
                    return;
                }

                (_pending, _writing) = (_writing.Length >= _pending.Length ? _writing : new byte[_pending.Length], _pending);
                length = _length;
                _length = 0;
                _urgent = false;
            }

            WriteOut(_writing.AsSpan(0, length));
        }
    }

    private void WriteOut(ReadOnlySpan<byte> bytes)
    {
        try
        {
            _out.Write(bytes);
            _out.Flush();
        }
        catch (IOException)
        {
            // stdout closed (the reader went away): there is nobody left to tell.
        }
    }
}
