namespace RwkvQuant.Proxy;

/// <summary>
/// What an <see cref="IProxy"/> measured on one 2-D weight. For the coarse-to-fine proxy <see cref="Coarse"/> is P_c
/// and <see cref="Fine"/> is P_f; a proxy with a single value (variance, range, kurtosis, crest factor) puts it in
/// <see cref="Coarse"/> and leaves <see cref="Fine"/> at 0. Larger values mean the weight is better served by vector
/// quantization. Values are finite.
/// </summary>
/// <param name="TensorName">Name of the scored tensor.</param>
/// <param name="ParameterCount">Number of weights in it (used when thresholds are derived by parameter count).</param>
/// <param name="Coarse">P_c, or the single value of a scalar proxy.</param>
/// <param name="Fine">P_f, or 0 for a scalar proxy.</param>
public sealed record ProxyScore(string TensorName, long ParameterCount, double Coarse, double Fine)
{
    /// <summary>The single value of a scalar proxy (the same as <see cref="Coarse"/>).</summary>
    public double Value => Coarse;
}
