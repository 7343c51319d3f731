namespace RwkvQuant.Evaluation;

/// <summary>
/// The outcome of <see cref="KlDivergenceEvaluator"/>: KL(P‖Q) = Σ_v P(v) (ln P(v) − ln Q(v)) between the
/// reference network's next-token distribution P and the candidate's Q, at every scored position.
/// </summary>
/// <param name="TokenCount">Positions compared.</param>
/// <param name="TotalKl">Sum of the per-position divergences, in nats.</param>
/// <param name="MaxKl">Largest per-position divergence, in nats.</param>
/// <param name="Top1Agreements">Positions where both networks rank the same token first.</param>
/// <param name="Elapsed">Wall time.</param>
public sealed record KlDivergenceResult(long TokenCount, double TotalKl, double MaxKl, long Top1Agreements, TimeSpan Elapsed)
{
    /// <summary>Mean KL divergence per position, in nats.</summary>
    public double MeanKl => TotalKl / TokenCount;

    /// <summary>Fraction of positions where the two networks' most likely next tokens agree.</summary>
    public double Top1Agreement => (double)Top1Agreements / TokenCount;
}
