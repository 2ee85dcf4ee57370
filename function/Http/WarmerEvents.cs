using Cachier.Reconcile;
using CloudNative.CloudEvents;

namespace Cachier.Http;

/// <summary>
/// The warmer's events (SPEC 11). The warmer is level-based: an event only says "look again", and nothing it
/// carries is read or trusted beyond its type and kind, so a forged event can at most cause one more pass.
/// </summary>
public static class WarmerEvents
{
    public static Inbound Parse(CloudEvent cloudEvent)
    {
        var type = cloudEvent.Type ?? "";
        if (type == EventParser.PingType)
        {
            return new WarmInbound(type, null);
        }

        if (!type.StartsWith(EventParser.RefPrefix, StringComparison.Ordinal) && !type.StartsWith(EventParser.ResourcePrefix, StringComparison.Ordinal))
        {
            return new IgnoredInbound(type, null, $"event type '{type}' is not handled");
        }

        return cloudEvent["kind"] is "Image" or "Node" or "Pod"
            ? new WarmInbound(type, (string)cloudEvent["kind"]!)
            : new IgnoredInbound(type, null, "the warmer acts on Image, Node and Pod events only");
    }
}
