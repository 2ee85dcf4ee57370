using System.Text.RegularExpressions;
using Cachier.Domain;

namespace Cachier.Tests.Unit;

/// <summary>SPEC section 4 "Naming" and the Kubernetes name rules.</summary>
public partial class NamesTests
{
    // Kubernetes' IsDNS1123Subdomain (k8s.io/apimachinery/pkg/util/validation), written out independently.
    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")]
    private static partial Regex KubernetesSubdomain();

    // Expected hashes computed outside .NET: printf '%s' '<uid>/<image>' | sha256sum | cut -c1-10
    [Theory]
    [InlineData("dummy", "a792cd10-ca9d-11e8-b5eb-42010af000a3", "ubuntu", "dummy-af28c54a78")]
    [InlineData("web", "11111111-1111-4111-8111-111111111111", "nginx:1.27", "web-7ad51f70f8")]
    [InlineData("web", "11111111-1111-4111-8111-111111111111", "registry.example/café:1", "web-41f3ad1a99")]
    [InlineData("api", "uid-2", "busybox:1.36", "api-c9ea02a3a0")]
    public void ImageName_is_the_workload_name_and_10_hex_of_sha256_over_uid_slash_image(string workload, string uid, string image, string expected) =>
        Assert.Equal(expected, Names.ImageName(workload, uid, image));

    [Fact]
    public void ImageName_depends_on_uid_and_image()
    {
        var name = Names.ImageName("web", "uid-1", "nginx:1.27");

        Assert.Equal(name, Names.ImageName("web", "uid-1", "nginx:1.27"));
        Assert.NotEqual(name, Names.ImageName("web", "uid-2", "nginx:1.27"));
        Assert.NotEqual(name, Names.ImageName("web", "uid-1", "nginx:1.28"));
    }

    [Theory]
    [InlineData(52, 52)]
    [InlineData(53, 52)]
    [InlineData(63, 52)]
    [InlineData(64, 52)]
    [InlineData(253, 52)]
    [InlineData(1, 1)]
    [InlineData(51, 51)]
    public void ImageName_cuts_the_workload_name_so_the_whole_name_fits_63_characters(int nameLength, int prefixLength)
    {
        var name = Names.ImageName(new string('a', nameLength), "uid", "nginx");

        Assert.Equal(prefixLength + 11, name.Length);
        Assert.Equal(new string('a', prefixLength) + "-", name[..(prefixLength + 1)]);
    }

    [Theory]
    [InlineData("abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdefgh-ijk", "abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdefgh")]
    [InlineData("abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdefg-hijk", "abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdefg")]
    [InlineData("abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdef--hijk", "abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdef")]
    [InlineData("abcdefghij.abcdefghij.abcdefghij.abcdefghij.abcdefg.hijk", "abcdefghij.abcdefghij.abcdefghij.abcdefghij.abcdefg")]
    [InlineData("abcdefghij.abcdefghij.abcdefghij.abcdefghij.abcdefgh.ijk", "abcdefghij.abcdefghij.abcdefghij.abcdefghij.abcdefgh")]
    public void ImageName_removes_trailing_dashes_and_dots_from_the_cut_prefix(string workload, string prefix)
    {
        var name = Names.ImageName(workload, "uid", "nginx");

        Assert.Equal(prefix + "-", name[..^10]);
        Assert.Matches("^[0-9a-f]{10}$", name[^10..]);
    }

    /// <summary>Valid workload names of every length from 1 to 253, with dashes and dots at every position.</summary>
    private static SortedSet<string> GeneratedWorkloadNames()
    {
        var names = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var seed in new[] { "a-b.c--d.e9.f-0.gh", "ab-", "x.", "q" })
        {
            var text = string.Concat(Enumerable.Repeat(seed, 253));
            for (var length = 1; length <= 253; length++)
            {
                // A cut may end in '-' or '.', which no valid name does: end it in a letter.
                var name = text[..length];
                names.Add(name[^1] is '-' or '.' ? name[..^1] + "z" : name);
            }
        }

        return names;
    }

    [Fact]
    public void ImageName_of_any_valid_workload_name_is_a_DNS_subdomain_of_at_most_63_characters()
    {
        var failures = new List<string>();
        foreach (var workload in GeneratedWorkloadNames())
        {
            Assert.Matches(KubernetesSubdomain(), workload);
            foreach (var image in new[] { "nginx", "registry.example.com:5000/a/b@sha256:0123", "" })
            {
                var name = Names.ImageName(workload, "8f7e6d5c-1111-4222-8333-444455556666", image);
                var prefix = workload.Length <= 52 ? workload : workload[..52].TrimEnd('-', '.');
                if (name.Length > 63 || !KubernetesSubdomain().IsMatch(name) || !Names.IsDnsSubdomain(name) || !name.StartsWith(prefix + "-", StringComparison.Ordinal))
                {
                    failures.Add($"'{workload}' + '{image}' -> '{name}' ({name.Length} characters)");
                }
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(20)));
    }

    [Theory]
    [InlineData("a")]
    [InlineData("0")]
    [InlineData("abc")]
    [InlineData("a-b")]
    [InlineData("a--b")]
    [InlineData("1abc")]
    [InlineData("kube-system")]
    [InlineData("abcdefghijklmnopqrstuvwxyz0123456789-abcdefghijklmnopqrstuvwxyz")]
    public void IsDnsLabel_accepts_lower_case_alphanumerics_and_inner_dashes(string value)
    {
        Assert.True(Names.IsDnsLabel(value), $"'{value}' should be a DNS label");
        Assert.True(Names.IsDnsSubdomain(value), $"'{value}' should be a DNS subdomain");
    }

    [Fact]
    public void IsDnsLabel_accepts_63_characters() => Assert.True(Names.IsDnsLabel(new string('x', 63)));

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("-a")]
    [InlineData("a-")]
    [InlineData("-")]
    [InlineData("A")]
    [InlineData("aBc")]
    [InlineData("a.b")]
    [InlineData("../x")]
    [InlineData("a/b")]
    [InlineData("a_b")]
    [InlineData(" a")]
    [InlineData("a ")]
    [InlineData("café")]
    [InlineData("ａｂｃ")]
    [InlineData("a\nb")]
    public void IsDnsLabel_rejects_invalid_labels(string? value) =>
        Assert.False(Names.IsDnsLabel(value), $"'{value}' should not be a DNS label");

    [Theory]
    [InlineData(64)]
    [InlineData(300)]
    public void IsDnsLabel_rejects_more_than_63_characters(int length) =>
        Assert.False(Names.IsDnsLabel(new string('x', length)));

    [Theory]
    [InlineData("a.b")]
    [InlineData("example.com")]
    [InlineData("foo.example.io")]
    [InlineData("a-b.c-d.e")]
    [InlineData("0.1.2")]
    [InlineData("web-7d4b9c8f6d")]
    public void IsDnsSubdomain_accepts_dotted_labels(string value) =>
        Assert.True(Names.IsDnsSubdomain(value), $"'{value}' should be a DNS subdomain");

    [Fact]
    public void IsDnsSubdomain_accepts_253_characters()
    {
        var value = string.Join('.', Enumerable.Repeat(new string('a', 62), 4)) + ".b";

        Assert.Equal(253, value.Length);
        Assert.True(Names.IsDnsSubdomain(value));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData(".")]
    [InlineData(".a")]
    [InlineData("a.")]
    [InlineData("a..b")]
    [InlineData("../x")]
    [InlineData("..")]
    [InlineData("a/b")]
    [InlineData("A.b")]
    [InlineData("a.B")]
    [InlineData("Deployment")]
    [InlineData("café.com")]
    [InlineData("ｅxample.com")]
    [InlineData("-a.b")]
    [InlineData("a-.b")]
    [InlineData("a.-b")]
    [InlineData("a.b-")]
    [InlineData("a_b.c")]
    [InlineData("a b")]
    public void IsDnsSubdomain_rejects_invalid_names(string? value) =>
        Assert.False(Names.IsDnsSubdomain(value), $"'{value}' should not be a DNS subdomain");

    [Theory]
    [InlineData(254)]
    [InlineData(300)]
    public void IsDnsSubdomain_rejects_more_than_253_characters(int length)
    {
        var value = string.Join('.', Enumerable.Range(0, length).Select(_ => "x").Chunk(50).Select(c => string.Concat(c)))[..length];
        value = value[^1] == '.' ? value[..^1] + "y" : value;

        Assert.Equal(length, value.Length);
        Assert.False(Names.IsDnsSubdomain(value), $"a {length}-character name should not be a DNS subdomain");
    }

    [Fact]
    public void IsDnsSubdomain_accepts_a_label_longer_than_63_characters_as_Kubernetes_does()
    {
        Assert.Matches(KubernetesSubdomain(), new string('x', 64));
        Assert.True(Names.IsDnsSubdomain(new string('x', 64)));
        Assert.True(Names.IsDnsSubdomain("frontend." + new string('x', 100)));
    }
}
