using System.Text.Json.Serialization;

namespace Cachier.Kubernetes;

// The Image resource and the few API envelopes Cachier reads and writes, as source-generated JSON
// (Native AOT has no reflection-based serialisation).

public sealed class ImageObject
{
    public string? ApiVersion { get; set; }

    public string? Kind { get; set; }

    public ObjectMeta Metadata { get; set; } = new();

    public ImageSpec Spec { get; set; } = new();
}

public sealed class ObjectMeta
{
    public string? Name { get; set; }

    public string? Namespace { get; set; }

    public string? Uid { get; set; }

    public string? ResourceVersion { get; set; }

    public Dictionary<string, string>? Labels { get; set; }

    public List<OwnerReference>? OwnerReferences { get; set; }
}

public sealed class OwnerReference
{
    public string ApiVersion { get; set; } = "";

    public string Kind { get; set; } = "";

    public string Name { get; set; } = "";

    public string Uid { get; set; } = "";

    public bool? Controller { get; set; }

    public bool? BlockOwnerDeletion { get; set; }
}

public sealed class ImageSpec
{
    public string? Image { get; set; }

    public string? ServiceAccountName { get; set; }

    public List<NameRef>? ImagePullSecrets { get; set; }
}

public sealed record NameRef(string? Name);

public sealed class ImageList
{
    public ListMeta? Metadata { get; set; }

    public List<ImageObject> Items { get; set; } = [];
}

public sealed class ListMeta
{
    public string? Continue { get; set; }
}

/// <summary>JSON merge patch of an Image: resourceVersion makes it conditional; nulls remove fields.</summary>
public sealed class ImagePatch
{
    public PatchMeta Metadata { get; set; } = new();

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public PatchSpec? Spec { get; set; }
}

public sealed class PatchMeta
{
    public string ResourceVersion { get; set; } = "";

    public Dictionary<string, string> Labels { get; set; } = [];
}

public sealed class PatchSpec
{
    /// <summary>Only when an Image of ours carries another image (edited by hand): left out otherwise.</summary>
    public string? Image { get; set; }

    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public string? ServiceAccountName { get; set; }

    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public List<NameRef>? ImagePullSecrets { get; set; }
}

public sealed class DeleteOptions
{
    public string ApiVersion { get; set; } = "v1";

    public string Kind { get; set; } = "DeleteOptions";

    public Preconditions? Preconditions { get; set; }
}

public sealed record Preconditions(string Uid, string ResourceVersion);

public sealed class StatusObject
{
    public string? Reason { get; set; }

    public string? Message { get; set; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ImageObject))]
[JsonSerializable(typeof(ImageList))]
[JsonSerializable(typeof(ImagePatch))]
[JsonSerializable(typeof(DeleteOptions))]
[JsonSerializable(typeof(StatusObject))]
public sealed partial class WireJson : JsonSerializerContext;
