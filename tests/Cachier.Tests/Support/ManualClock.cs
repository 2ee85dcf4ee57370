namespace Cachier.Tests.Support;

/// <summary>
/// A clock the test moves: given to the app as its one <see cref="TimeProvider"/>, it moves the monotonic time the
/// app measures ages with (the memo's TTL, the warmer's owner cache); the wall clock stays the system's.
/// </summary>
public sealed class ManualClock : TimeProvider
{
    private long _ticks = TimeSpan.TicksPerDay;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => Interlocked.Read(ref _ticks);

    public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
}
