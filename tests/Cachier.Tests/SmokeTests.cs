namespace Cachier.Tests;

public class SmokeTests
{
    [Fact]
    public void Default_kinds_are_the_six_workload_kinds() =>
        Assert.Equal(6, new CachierSettings(new CachierOptions()).Kinds.Count);
}
