namespace Cachier.Lab;

internal static class SourceCommand
{
    public static Task<int> RunAsync(string[] args) => throw new NotImplementedException();
}
