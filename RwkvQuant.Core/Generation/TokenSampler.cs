namespace RwkvQuant.Generation;

/// <summary>
/// Picks a token from one row of logits: argmax at temperature 0, otherwise a draw from
/// softmax(logits / T) restricted to the top-p nucleus (the smallest set of most likely tokens whose probability
/// reaches p), renormalised.
/// </summary>
internal sealed class TokenSampler
{
    private readonly SamplingOptions _options;
    private readonly Random _random;

    public TokenSampler(SamplingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _random = options.Seed is { } seed ? new Random(seed) : new Random();
    }

    public int Sample(ReadOnlySpan<float> logits)
    {
        if (logits.IsEmpty)
            throw new ArgumentException("No logits to sample from.", nameof(logits));
        if (_options.Temperature == 0)
            return ArgMax(logits);

        // p_v ∝ exp((l_v − max l) / T), in double so a small T does not overflow.
        double max = logits[ArgMax(logits)];
        var probabilities = new double[logits.Length];
        double sum = 0;
        for (int v = 0; v < logits.Length; v++)
            sum += probabilities[v] = Math.Exp((logits[v] - max) / _options.Temperature);

        int[] order = Enumerable.Range(0, logits.Length).ToArray();
        Array.Sort(order, (a, b) => probabilities[b].CompareTo(probabilities[a]) is var c and not 0 ? c : a.CompareTo(b));
        int kept = 0;
        double nucleus = 0;
        while (kept < order.Length && (kept == 0 || nucleus < _options.TopP * sum))
            nucleus += probabilities[order[kept++]];

        double draw = _random.NextDouble() * nucleus;
        for (int i = 0; i < kept; i++)
        {
            draw -= probabilities[order[i]];
            if (draw < 0)
                return order[i];
        }
        return order[kept - 1]; // rounding left a sliver of the draw
    }

    private static int ArgMax(ReadOnlySpan<float> logits)
    {
        int best = 0;
        for (int v = 1; v < logits.Length; v++)
        {
            if (logits[v] > logits[best])
                best = v;
        }
        return best;
    }
}
