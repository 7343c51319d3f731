using RwkvQuant.Formats;

namespace RwkvQuant.Codebooks;

/// <summary>
/// Quantizes an element-wise multiplication vector μ (y = x ⊙ μ; v7 <c>x_r, x_w, x_k, x_v, x_a, x_g, k_k, k_a, r_k</c>,
/// v6 <c>time_maa_x, time_maa_{w,k,v,r,g}</c> and channel-mix <c>time_maa_k, time_maa_r</c>) into per-group codebooks.
/// The vector is read as a flat vector of C channels whatever its shape (<c>[C]</c>, <c>[1, 1, C]</c>, <c>[H, N]</c>).
/// Implementations are stateless and thread-safe.
/// </summary>
public interface ICodebookOptimizer
{
    /// <summary>A short, stable name, e.g. <c>"activation-weighted kmeans b3 g64"</c>.</summary>
    string Name { get; }

    /// <summary>Quantizes <paramref name="vector"/>.</summary>
    /// <param name="vector">The vector μ, any shape; its C = element count values are the channels.</param>
    /// <param name="importance">Per channel s_j = E[x_j²] of the other operand (C values, finite, ≥ 0, not all 0), or
    /// empty for an unweighted fit.</param>
    /// <param name="cancellationToken">Checked between groups.</param>
    /// <returns>The quantized vector, its original shape kept.</returns>
    /// <exception cref="ArgumentException">The importance has the wrong length or is degenerate (NaN, infinite,
    /// negative, all zero), or the vector holds a non-finite value; the message names the tensor.</exception>
    QuantizedMultiplicationVector Quantize(TensorData vector, ReadOnlySpan<float> importance, CancellationToken cancellationToken = default);

    /// <summary>The exact <see cref="QuantizedMultiplicationVector.StoredBits"/> of a vector of <paramref name="length"/>
    /// channels, from its length alone.</summary>
    long StoredBitsFor(int length);
}
