namespace Cachier.Lab;

internal static class ThrottleCommand
{
    public static Task<int> RunAsync(string[] args) => throw new NotImplementedException();
}
