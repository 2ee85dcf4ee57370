using System.Security.Cryptography;
using System.Text;

namespace Cachier.Tests.Support;

/// <summary>
/// The naming rules of SPEC section 4 (Images) and SPEC 11 (pull pods), computed here on their own (never with the
/// product's code), so a test that compares names checks the rule rather than the code against itself. The only copy in the tests.
/// </summary>
public static class ExpectedNames
{
    /// <summary>The workload name cut to 52 characters (and trailing '-' or '.'), "-", the first 10 hex of SHA-256(uid + "/" + image).</summary>
    public static string Image(string workload, string uid, string image)
    {
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{uid}/{image}")))[..10];
        return $"{workload[..Math.Min(workload.Length, 63 - 1 - 10)].TrimEnd('-', '.')}-{hash}";
    }

    /// <summary>"cachier-warm-", the first 10 hex of SHA-256(node, credentials, images): a pull pod's name (SPEC 11).</summary>
    public static string PullPod(string node, string? serviceAccount, string[]? pullSecrets, params string[] images)
    {
        var key = (serviceAccount is null or "default" ? "" : serviceAccount) + "|" + string.Join(',', pullSecrets ?? []);
        var hash = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes($"{node}\n{key}\n{string.Join('\n', images)}"))).ToLowerInvariant();
        return "cachier-warm-" + hash[..10];
    }
}
