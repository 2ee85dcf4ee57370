using System.Security.Cryptography;
using System.Text;

namespace Cachier.Tests.Support;

/// <summary>
/// SPEC section 4, computed here on its own (never with the product's Names class), so a test that compares names
/// checks the rule rather than the code against itself. The only copy in the tests.
/// </summary>
public static class ExpectedNames
{
    /// <summary>The workload name cut to 52 characters (and trailing '-' or '.'), "-", the first 10 hex of SHA-256(uid + "/" + image).</summary>
    public static string Image(string workload, string uid, string image)
    {
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{uid}/{image}")))[..10];
        return $"{workload[..Math.Min(workload.Length, 63 - 1 - 10)].TrimEnd('-', '.')}-{hash}";
    }
}
