namespace RwkvQuant.Calibration;

/// <summary>
/// Per name, the running Σ x_j² of each channel j over every row seen, and the row count: what the channel importances
/// E[x_j²] of <see cref="ChannelImportanceCollector"/> (multiplication operands) and <see cref="ImportanceMatrix"/>
/// (linear inputs) average. Not thread-safe.
/// </summary>
internal sealed class ChannelSquareSums
{
    private readonly Dictionary<string, (double[] Sum, long Count)> _sums = new(StringComparer.Ordinal);

    /// <summary>The names that have had rows.</summary>
    public IEnumerable<string> Names => _sums.Keys;

    /// <summary>Whether <paramref name="name"/> has had rows.</summary>
    public bool Contains(string name) => _sums.ContainsKey(name);

    /// <summary>Rows added under <paramref name="name"/> (0 when none).</summary>
    public long Count(string name) => _sums.TryGetValue(name, out var entry) ? entry.Count : 0;

    /// <summary>Adds <paramref name="rows"/> rows whose per-channel squares sum to <paramref name="squares"/> (kept, not copied).</summary>
    /// <exception cref="InvalidOperationException">Earlier rows under the name had another width.</exception>
    public void Add(string name, double[] squares, long rows)
    {
        if (!_sums.TryGetValue(name, out var previous))
        {
            _sums[name] = (squares, rows);
            return;
        }
        if (previous.Sum.Length != squares.Length)
            throw new InvalidOperationException($"'{name}' had operands of width {previous.Sum.Length}, now {squares.Length}.");
        for (int j = 0; j < squares.Length; j++)
            previous.Sum[j] += squares[j];
        _sums[name] = (previous.Sum, previous.Count + rows);
    }

    /// <summary>E[x_j²] of <paramref name="name"/>: each channel's sum over the row count.</summary>
    public double[] Mean(string name)
    {
        (double[] sum, long count) = _sums[name];
        return [.. sum.Select(v => v / count)];
    }
}
