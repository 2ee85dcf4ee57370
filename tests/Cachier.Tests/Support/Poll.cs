using System.Diagnostics;

namespace Cachier.Tests.Support;

/// <summary>
/// Waiting for a state that nothing signals (a pod's phase, the images a node lists, an Image's status, a Deployment's
/// Images): the state is read again until it is as wanted. Each read (a kubectl or ctr call) paces the next; the bound
/// is only a timeout.
/// </summary>
public static class Poll
{
    /// <summary>
    /// The first state read for which <paramref name="done"/> holds; past <paramref name="bound"/>, a
    /// <see cref="TimeoutException"/> saying what was awaited, told from the last state read.
    /// </summary>
    public static async Task<T> UntilAsync<T>(Func<Task<T>> read, Func<T, bool> done, TimeSpan bound, Func<T, Task<string>> what)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var state = await read();
            if (done(state))
            {
                return state;
            }

            if (clock.Elapsed > bound)
            {
                throw new TimeoutException($"still waiting after {bound.TotalSeconds:0} s for {await what(state)}");
            }
        }
    }

    public static Task<T> UntilAsync<T>(Func<Task<T>> read, Func<T, bool> done, TimeSpan bound, Func<T, string> what) =>
        UntilAsync(read, done, bound, state => Task.FromResult(what(state)));

    /// <summary>The first value <paramref name="probe"/> returns (null: not yet).</summary>
    public static async Task<T> ValueAsync<T>(Func<Task<T?>> probe, TimeSpan bound, string what)
        where T : class =>
        (await UntilAsync(probe, value => value is not null, bound, _ => what))!;

    /// <summary>Returns once <paramref name="probe"/> is true.</summary>
    public static Task TrueAsync(Func<Task<bool>> probe, TimeSpan bound, string what) =>
        UntilAsync(probe, holds => holds, bound, _ => what);

    /// <summary>Returns once <paramref name="probe"/> is true; <paramref name="what"/> reads, on a timeout, what there is instead.</summary>
    public static Task TrueAsync(Func<Task<bool>> probe, TimeSpan bound, Func<Task<string>> what) =>
        UntilAsync(probe, holds => holds, bound, _ => what());
}
