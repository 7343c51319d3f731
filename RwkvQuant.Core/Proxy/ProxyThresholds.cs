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
    /// Thresholds that send a target fraction of <paramref name="scores"/> to SQ, keeping τ_f. The rule: τ_f stays fixed
    /// at <paramref name="fine"/> (default the published 30; pass +∞ for a scalar proxy or for a pure P_c quantile); the
    /// matrices with P_f &lt; τ_f, sorted by P_c ascending, are the candidates, and τ_c is placed between two
    /// consecutive distinct P_c values (at their midpoint) so that the SQ share — by count or by parameters — is as
    /// close as possible to <paramref name="fraction"/> × the total; ties go to the smaller share. By count this lands
    /// within half a matrix of the target when the P_c values are distinct. When fewer than the target pass the fine
    /// test, τ_c = +∞ and the share is the most that τ_f allows (see <see cref="ScaledForTargetScalarFraction"/>, which
    /// always lands). An empty share gives τ_c = −∞ (everything VQ).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="fraction"/> is outside [0, 1], or
    /// <paramref name="measure"/> is not a defined value, or <paramref name="fine"/> is NaN.</exception>
    /// <exception cref="ArgumentException"><paramref name="scores"/> is empty or holds a non-finite score.</exception>
    public static ProxyThresholds ForTargetScalarFraction(IReadOnlyCollection<ProxyScore> scores, double fraction,
        ScalarFractionMeasure measure = ScalarFractionMeasure.MatrixCount, double fine = PublishedRwkv7Fine)
    {
        Validate(scores, fraction, measure);
        if (double.IsNaN(fine))
            throw new ArgumentOutOfRangeException(nameof(fine), fine, "τ_f is a number.");
        double target = fraction * scores.Sum(s => Weight(s, measure));
        double coarse = Cut([.. scores.Where(s => s.Fine < fine).Select(s => (s.Coarse, Weight(s, measure)))], target);
        return new ProxyThresholds(coarse, fine);
    }

    /// <summary>
    /// Thresholds that send a target fraction of <paramref name="scores"/> to SQ by scaling both reference thresholds by
    /// one factor λ: τ_c = λ·τ_c⁰, τ_f = λ·τ_f⁰ (reference default the published 1.54 and 30). A matrix goes to SQ iff
    /// max(P_c/τ_c⁰, P_f/τ_f⁰) &lt; λ, so sorting by that key and cutting as in
    /// <see cref="ForTargetScalarFraction"/> always reaches the target — by count within half a matrix when the keys are
    /// distinct — whatever the P_f spread. λ = −∞ sends everything to VQ, λ = +∞ everything to SQ.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="fraction"/> is outside [0, 1],
    /// <paramref name="measure"/> is not a defined value, or a reference threshold is not positive (τ_c⁰ must also be
    /// finite; τ_f⁰ = +∞ ignores P_f).</exception>
    /// <exception cref="ArgumentException"><paramref name="scores"/> is empty or holds a non-finite score.</exception>
    public static ProxyThresholds ScaledForTargetScalarFraction(IReadOnlyCollection<ProxyScore> scores, double fraction,
        ScalarFractionMeasure measure = ScalarFractionMeasure.MatrixCount, ProxyThresholds? reference = null)
    {
        Validate(scores, fraction, measure);
        reference ??= PublishedRwkv7;
        if (!(reference.Coarse > 0) || double.IsInfinity(reference.Coarse) || !(reference.Fine > 0))
            throw new ArgumentOutOfRangeException(nameof(reference), reference, "Reference thresholds must be positive, τ_c finite.");
        double target = fraction * scores.Sum(s => Weight(s, measure));
        double lambda = Cut([.. scores.Select(s => (Math.Max(s.Coarse / reference.Coarse, s.Fine / reference.Fine), Weight(s, measure)))], target);
        return new ProxyThresholds(lambda * reference.Coarse, lambda * reference.Fine);
    }

    private static void Validate(IReadOnlyCollection<ProxyScore> scores, double fraction, ScalarFractionMeasure measure)
    {
        ArgumentNullException.ThrowIfNull(scores);
        if (fraction is not (>= 0 and <= 1))
            throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "The target SQ fraction lies in [0, 1].");
        if (!Enum.IsDefined(measure))
            throw new ArgumentOutOfRangeException(nameof(measure), measure, "Unknown measure.");
        if (scores.Count == 0)
            throw new ArgumentException("No scores to derive thresholds from.", nameof(scores));
        foreach (ProxyScore score in scores)
        {
            if (!double.IsFinite(score.Coarse) || !double.IsFinite(score.Fine))
                throw new ArgumentException($"The score of '{score.TensorName}' is not finite ({score.Coarse}, {score.Fine}).", nameof(scores));
        }
    }

    private static double Weight(ProxyScore score, ScalarFractionMeasure measure) =>
        measure == ScalarFractionMeasure.MatrixCount ? 1.0 : score.ParameterCount;

    /// <summary>
    /// The threshold t on <c>Key</c> (SQ iff key &lt; t) whose SQ share of <c>Weight</c> is nearest to
    /// <paramref name="target"/> (ties to the smaller share); only cuts between distinct keys are realisable.
    /// </summary>
    private static double Cut((double Key, double Weight)[] candidates, double target)
    {
        Array.Sort(candidates, (a, b) => a.Key.CompareTo(b.Key));
        int bestCut = 0;                                   // the first bestCut candidates go to SQ
        double bestDistance = target, share = 0;
        for (int k = 1; k <= candidates.Length; k++)
        {
            share += candidates[k - 1].Weight;
            if (k < candidates.Length && candidates[k].Key == candidates[k - 1].Key)
                continue;
            double distance = Math.Abs(share - target);
            if (distance < bestDistance)
            {
                bestDistance = distance;
                bestCut = k;
            }
        }
        return bestCut == 0 ? double.NegativeInfinity
            : bestCut == candidates.Length ? double.PositiveInfinity
            : Between(candidates[bestCut - 1].Key, candidates[bestCut].Key);
    }

    /// <summary>A threshold t with <paramref name="below"/> &lt; t ≤ <paramref name="above"/>: their midpoint, or
    /// <paramref name="above"/> itself when the two are adjacent doubles.</summary>
    private static double Between(double below, double above)
    {
        double middle = below + (above - below) / 2;
        return below < middle ? middle : above;
    }
}
