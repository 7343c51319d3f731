namespace RwkvQuant.Proxy;

/// <summary>The single-number statistics of a weight used as ablation proxies (larger = better served by VQ).</summary>
public enum WeightStatistic
{
    /// <summary>Population variance mean((w − mean w)²).</summary>
    Variance,

    /// <summary>Range max w − min w.</summary>
    Range,

    /// <summary>Population kurtosis mean((w − μ)⁴) / variance² (3 for a Gaussian, 1.8 for a uniform; not the excess);
    /// 0 for a constant weight.</summary>
    Kurtosis,

    /// <summary>Crest factor max|w| / RMS(w) with RMS(w) = sqrt(mean(w²)) (√3 for a symmetric uniform); 0 for an
    /// all-zero weight.</summary>
    CrestFactor,
}
