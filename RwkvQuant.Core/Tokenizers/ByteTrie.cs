namespace RwkvQuant.Tokenizers;

/// <summary>
/// A trie over byte strings mapping each stored string to a token id. Nodes are numbered; the edge from node n
/// on byte b is stored under the key <c>n·256 + b</c> in one hash table, which keeps the 400k-node World
/// vocabulary compact.
/// </summary>
internal sealed class ByteTrie
{
    private readonly Dictionary<int, int> _edges = [];
    private readonly List<int> _tokenAt = [-1]; // node → token id, −1 when no token ends there; node 0 is the root

    /// <summary>Adds <paramref name="bytes"/> → <paramref name="token"/>; false (with the holder) when already present.</summary>
    public bool TryAdd(ReadOnlySpan<byte> bytes, int token, out int existing)
    {
        int node = 0;
        foreach (byte b in bytes)
        {
            int key = checked(node * 256 + b);
            if (!_edges.TryGetValue(key, out int child))
            {
                child = _tokenAt.Count;
                _tokenAt.Add(-1);
                _edges.Add(key, child);
            }
            node = child;
        }
        existing = _tokenAt[node];
        if (existing >= 0)
            return false;
        _tokenAt[node] = token;
        return true;
    }

    /// <summary>Whether the one-byte string <paramref name="b"/> is stored.</summary>
    public bool ContainsSingleByte(byte b) => _edges.TryGetValue(b, out int node) && _tokenAt[node] >= 0;

    /// <summary>The longest stored prefix of <paramref name="bytes"/>: its token and length (−1, 0 when none).</summary>
    public (int Token, int Length) LongestMatch(ReadOnlySpan<byte> bytes)
    {
        int node = 0;
        int bestToken = -1;
        int bestLength = 0;
        for (int i = 0; i < bytes.Length; i++)
        {
            if (!_edges.TryGetValue(node * 256 + bytes[i], out node))
                break;
            if (_tokenAt[node] >= 0)
            {
                bestToken = _tokenAt[node];
                bestLength = i + 1;
            }
        }
        return (bestToken, bestLength);
    }
}
