using Cachier.Domain;

namespace Cachier.Kubernetes;

/// <summary>Pure: the complete Image object for one desired image, owner reference and labels included.</summary>
public static class ImageResources
{
    public const string Group = "caching.internal.knative.dev";
    public const string Version = "v1alpha1";
    public const string ApiVersion = $"{Group}/{Version}";
    public const string ManagedBy = "app.kubernetes.io/managed-by";

    public static ImageObject Build(ImagePlan plan, DesiredImage image)
    {
        var owner = plan.Owner;
        return new ImageObject
        {
            ApiVersion = ApiVersion,
            Kind = "Image",
            Metadata = new ObjectMeta
            {
                Name = image.Name,
                Namespace = owner.Namespace,
                Labels = Labels(plan),
                OwnerReferences =
                [
                    new OwnerReference
                    {
                        ApiVersion = owner.ApiVersion, Kind = owner.Kind, Name = owner.Name, Uid = owner.Uid,
                        Controller = true, BlockOwnerDeletion = true,
                    },
                ],
            },
            Spec = new ImageSpec
            {
                Image = image.Image,
                ServiceAccountName = image.ServiceAccountName,
                ImagePullSecrets = Secrets(image),
            },
        };
    }

    /// <summary>cachier's <c>controller</c> label, the generation last written (%05d), and managed-by.</summary>
    public static Dictionary<string, string> Labels(ImagePlan plan) => new()
    {
        ["controller"] = plan.Owner.Uid,
        ["generation"] = plan.GenerationLabel,
        [ManagedBy] = "cachier",
    };

    public static List<NameRef>? Secrets(DesiredImage image) =>
        image.ImagePullSecrets.Count == 0 ? null : image.ImagePullSecrets.Select(s => new NameRef(s)).ToList();
}
