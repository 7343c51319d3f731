namespace RwkvQuant.Proxy;

/// <summary>
/// The decision rule on a <see cref="ProxyScore"/>: SQ iff P_c &lt; τ_c and P_f &lt; τ_f, else VQ. For a scalar proxy
/// (single value in <see cref="ProxyScore.Coarse"/>, <see cref="ProxyScore.Fine"/> = 0) use τ_f = +∞, so the rule
/// reads SQ iff value &lt; τ_c. Immutable.
/// </summary>
public sealed record ProxyThresholds
{
    /// <summary>The published RWKV-7 coarse threshold τ_c (paper-compatible FP16 unique-gap mode).</summary>
    public const double PublishedRwkv7Coarse = 1.54;

    /// <summary>The published RWKV-7 fine threshold τ_f (paper-compatible FP16 unique-gap mode, K = 4).</summary>
    public const double PublishedRwkv7Fine = 30;

    /// <summary>Creates thresholds τ_c and τ_f (±∞ allowed: +∞ disables a test, −∞ sends everything to VQ).</summary>
    /// <exception cref="ArgumentOutOfRangeException">A threshold is NaN.</exception>
    public ProxyThresholds(double coarse, double fine)
    {
        Coarse = coarse;
        Fine = fine;
    }

    /// <summary>The published RWKV-7 thresholds τ_c = 1.54, τ_f = 30.</summary>
    public static ProxyThresholds PublishedRwkv7 { get; } = new(PublishedRwkv7Coarse, PublishedRwkv7Fine);

    /// <summary>τ_c: SQ needs P_c below it.</summary>
    /// <exception cref="ArgumentOutOfRangeException">NaN.</exception>
    public double Coarse
    {
        get;
        init => field = double.IsNaN(value) ? throw new ArgumentOutOfRangeException(nameof(Coarse), value, "τ_c is a number.") : value;
    }

    /// <summary>τ_f: SQ needs P_f below it.</summary>
    /// <exception cref="ArgumentOutOfRangeException">NaN.</exception>
    public double Fine
    {
        get;
        init => field = double.IsNaN(value) ? throw new ArgumentOutOfRangeException(nameof(Fine), value, "τ_f is a number.") : value;
    }

    /// <summary>SQ iff P_c &lt; τ_c and P_f &lt; τ_f, else VQ.</summary>
    public QuantizationChoice Choose(ProxyScore score)
    {
        ArgumentNullException.ThrowIfNull(score);
        return score.Coarse < Coarse && score.Fine < Fine ? QuantizationChoice.Scalar : QuantizationChoice.Vector;
    }

    /// <summary>
    /// Thresholds that send a target fraction of <paramref name="scores"/> to SQ. The rule: τ_f stays fixed at
    /// <paramref name="fine"/> (default the published 30; pass +∞ for a scalar proxy or for a pure P_c quantile); the
    /// matrices with P_f &lt; τ_f, sorted by P_c ascending, are the candidates, and τ_c is placed between two
    /// consecutive distinct P_c values (at their midpoint) so that the SQ share — by count or by parameters — is as
    /// close as possible to <paramref name="fraction"/> × the total; ties go to the smaller share. By count this lands
    /// within half a matrix of the target when the P_c values are distinct. When fewer than the target pass the fine
    /// test, τ_c = +∞ and the share is the most that τ_f allows. An empty prefix gives τ_c = −∞ (everything VQ).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="fraction"/> is outside [0, 1], or
    /// <paramref name="measure"/> is not a defined value, or <paramref name="fine"/> is NaN.</exception>
    /// <exception cref="ArgumentException"><paramref name="scores"/> is empty or holds a non-finite score.</exception>
    public static ProxyThresholds ForTargetScalarFraction(IReadOnlyCollection<ProxyScore> scores, double fraction,
        ScalarFractionMeasure measure = ScalarFractionMeasure.MatrixCount, double fine = PublishedRwkv7Fine)
    {
        ArgumentNullException.ThrowIfNull(scores);
        if (fraction is not (>= 0 and <= 1))
            throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "The target SQ fraction lies in [0, 1].");
        if (!Enum.IsDefined(measure))
            throw new ArgumentOutOfRangeException(nameof(measure), measure, "Unknown measure.");
        if (double.IsNaN(fine))
            throw new ArgumentOutOfRangeException(nameof(fine), fine, "τ_f is a number.");
        if (scores.Count == 0)
            throw new ArgumentException("No scores to derive thresholds from.", nameof(scores));
        foreach (ProxyScore score in scores)
        {
            if (!double.IsFinite(score.Coarse) || !double.IsFinite(score.Fine))
                throw new ArgumentException($"The score of '{score.TensorName}' is not finite ({score.Coarse}, {score.Fine}).", nameof(scores));
        }

        double Weight(ProxyScore s) => measure == ScalarFractionMeasure.MatrixCount ? 1.0 : s.ParameterCount;
        double target = fraction * scores.Sum(Weight);
        ProxyScore[] candidates = [.. scores.Where(s => s.Fine < fine).OrderBy(s => s.Coarse)];

        // Cut points k = 0..m: the first k candidates go to SQ; only cuts between distinct P_c values are realisable.
        int bestCut = 0;
        double bestDistance = target, share = 0;
        for (int k = 1; k <= candidates.Length; k++)
        {
            share += Weight(candidates[k - 1]);
            if (k < candidates.Length && candidates[k].Coarse == candidates[k - 1].Coarse)
                continue;
            double distance = Math.Abs(share - target);
            if (distance < bestDistance)
            {
                bestDistance = distance;
                bestCut = k;
            }
        }
        double coarse = bestCut == 0 ? double.NegativeInfinity
            : bestCut == candidates.Length ? double.PositiveInfinity
            : Between(candidates[bestCut - 1].Coarse, candidates[bestCut].Coarse);
        return new ProxyThresholds(coarse, fine);
    }

    /// <summary>A threshold t with <paramref name="below"/> &lt; t ≤ <paramref name="above"/>: their midpoint, or
    /// <paramref name="above"/> itself when the two are adjacent doubles.</summary>
    private static double Between(double below, double above)
    {
        double middle = below + (above - below) / 2;
        return below < middle ? middle : above;
    }
}
