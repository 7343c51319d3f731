using RwkvQuant.Models;
using static RwkvQuant.Native.TorchScalars;
using static TorchSharp.torch;

namespace RwkvQuant.Calibration;

/// <summary>
/// Collects, per element-wise multiplication vector μ (the token-shift mixes and friends; v7 <c>x_r … x_g, k_k, k_a,
/// r_k</c>, v6 <c>time_maa_x, time_maa_{w,k,v,r,g}</c> and channel-mix <c>time_maa_k/r</c>), the per-channel
/// importance s_j = E[x_j²] of its other operand x: for y = x ⊙ μ the output error of replacing μ by μ̂ is
/// Σ_j E[x_j²]·(μ_j − μ̂_j)². Each sample's operand is first clipped to ±(its <see cref="ClipPercentile"/>-th
/// percentile of |x|), so a few extreme tokens do not dominate the average. Not thread-safe.
/// </summary>
public sealed class ChannelImportanceCollector : INetworkObserver
{
    private readonly HashSet<string>? _names;
    private readonly ChannelSquareSums _sums = new();

    /// <summary>A collector for the vectors named in <paramref name="vectorNames"/> (canonical keys), or for every
    /// multiplication site the network reports when null.</summary>
    /// <param name="vectorNames">The vectors to collect, or null for all.</param>
    /// <param name="clipPercentile">The per-sample clipping percentile of |x|, in (0, 1]; 1 turns clipping off. Default 0.99.</param>
    public ChannelImportanceCollector(IEnumerable<string>? vectorNames = null, double clipPercentile = 0.99)
    {
        if (clipPercentile is not (> 0 and <= 1))
            throw new ArgumentOutOfRangeException(nameof(clipPercentile), clipPercentile, "The clipping percentile lies in (0, 1].");
        ClipPercentile = clipPercentile;
        _names = vectorNames?.ToHashSet(StringComparer.Ordinal);
    }

    /// <summary>The per-sample clipping percentile of |x| (1 = no clipping).</summary>
    public double ClipPercentile { get; }

    /// <summary>Runs every sample of <paramref name="data"/> through <paramref name="network"/> and accumulates the operands.</summary>
    public void Collect(RwkvNetwork network, CalibrationData data, IProgress<CalibrationProgress>? progress = null, CancellationToken cancellationToken = default) =>
        CalibrationRunner.Run(network, data, this, progress, cancellationToken);

    /// <summary>s_j = E[clip(x_j)²] per vector, by canonical name.</summary>
    /// <exception cref="InvalidOperationException">A requested vector never saw an operand.</exception>
    public IReadOnlyDictionary<string, double[]> Build()
    {
        if (_names is not null && _names.FirstOrDefault(n => !_sums.Contains(n)) is { } missing)
            throw new InvalidOperationException($"'{missing}' saw no calibration input; is it a multiplication vector of this model?");
        return _sums.Names.ToDictionary(name => name, _sums.Mean, StringComparer.Ordinal);
    }

    void INetworkObserver.OnLinearInput(string weightName, Tensor input)
    {
    }

    void INetworkObserver.OnMultiplyOperand(string vectorName, Tensor operand)
    {
        if (_names is not null && !_names.Contains(vectorName))
            return;
        using var scope = NewDisposeScope();
        long width = operand.shape[^1];
        Tensor x = operand.detach().reshape(operand.shape[0], -1, width).to(ScalarType.Float64); // [B, T, C]
        if (ClipPercentile < 1)
        {
            Tensor magnitude = x.abs().reshape(x.shape[0], -1);                                 // [B, T·C]
            Tensor limit = UpperQuantile(magnitude, ClipPercentile).unsqueeze(-1);              // [B, 1, 1]
            x = x.clamp(-limit, limit);
        }
        double[] sum = x.pow(Two).sum([0, 1]).data<double>().ToArray();                         // [C]
        long count = x.shape[0] * x.shape[1];
        _sums.Add(vectorName, sum, count);
    }

    /// <summary>
    /// The <paramref name="q"/>-quantile of each row of <paramref name="values"/> <c>[B, n]</c> as <c>[B, 1]</c>, equal to
    /// torch's <c>quantile(q, dim: 1)</c> (linear interpolation between the order statistics at ⌊q(n−1)⌋ and
    /// ⌈q(n−1)⌉), but from the top n − ⌊q(n−1)⌋ values only (<c>topk</c>): for q near 1 a small partial selection instead
    /// of a full sort of every row, which made clipping the costliest step of calibration.
    /// </summary>
    internal static Tensor UpperQuantile(Tensor values, double q)
    {
        long n = values.shape[1];
        double rank = q * (n - 1);
        long below = (long)Math.Floor(rank), above = (long)Math.Ceiling(rank);
        Tensor top = values.topk(checked((int)(n - below)), dim: 1, largest: true, sorted: true).values; // descending; last = order statistic `below`
        long last = n - below - 1;
        Tensor lower = top.narrow(1, last, 1), upper = top.narrow(1, last - (above - below), 1);
        return lower.lerp(upper, tensor(rank - below, values.dtype));
    }
}
