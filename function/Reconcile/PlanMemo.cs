using System.Security.Cryptography;
using System.Text;
using Cachier.Domain;

namespace Cachier.Reconcile;

/// <summary>
/// Bounded map from workload uid to a fingerprint of the plan last applied successfully. When an event's
/// object plans to the same fingerprint, nothing can have changed on our side: skip the LIST and all writes.
/// Drift made behind Cachier's back is the resync's job (it never consults the memo), but the resync may be hours
/// away: an entry expires after <paramref name="ttl"/>, so the memo cannot hide a repair (an Image deleted or edited
/// by hand) from the events for longer than that.
/// </summary>
public sealed class PlanMemo(int capacity, TimeSpan ttl, TimeProvider time)
{
    private readonly Dictionary<string, LinkedListNode<(string Uid, UInt128 Print, long At)>> _map = new(StringComparer.Ordinal);
    private readonly LinkedList<(string Uid, UInt128 Print, long At)> _order = new();

    public int Count
    {
        get
        {
            lock (_map)
            {
                return _map.Count;
            }
        }
    }

    public static UInt128 Fingerprint(ImagePlan plan)
    {
        var text = new StringBuilder()
            .Append(plan.Cache).Append('\n')
            .Append(plan.Owner.Generation).Append('\n')
            .AppendJoin('\n', plan.Images.Select(i => $"{i.Name}\t{i.Image}\t{i.ServiceAccountName}\t{string.Join(',', i.ImagePullSecrets)}"))
            .ToString();
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(text), hash);
        return new UInt128(BitConverter.ToUInt64(hash), BitConverter.ToUInt64(hash[8..]));
    }

    public bool Matches(string uid, UInt128 print)
    {
        lock (_map)
        {
            if (!_map.TryGetValue(uid, out var node) || node.Value.Print != print)
            {
                return false;
            }

            if (time.GetElapsedTime(node.Value.At) >= ttl)
            {
                _map.Remove(uid);
                _order.Remove(node);
                return false;
            }

            _order.Remove(node);
            _order.AddFirst(node);
            return true;
        }
    }

    public void Remember(string uid, UInt128 print)
    {
        if (capacity <= 0)
        {
            return;
        }

        lock (_map)
        {
            if (_map.Remove(uid, out var old))
            {
                _order.Remove(old);
            }

            _map[uid] = _order.AddFirst((uid, print, time.GetTimestamp()));
            if (_map.Count > capacity)
            {
                _map.Remove(_order.Last!.Value.Uid);
                _order.RemoveLast();
            }
        }
    }

    public void Forget(string uid)
    {
        lock (_map)
        {
            if (_map.Remove(uid, out var node))
            {
                _order.Remove(node);
            }
        }
    }
}
