using System.Globalization;
using RwkvQuant.Formats;

namespace RwkvQuant.Codebooks;

/// <summary>
/// The RWKVQuant codebook optimizer for element-wise multiplication vectors. For y = x ⊙ μ the output error of
/// replacing μ by μ̂ is Σ_j E[x_j²]·(μ_j − μ̂_j)², so each group of <see cref="CodebookOptimizerOptions.GroupSize"/>
/// channels is fitted by k-means on the scalars μ_j weighted by s_j = E[x_j²] (centroid c_k = Σ s_j μ_j / Σ s_j over
/// its members), which minimises Σ_j s_j (μ_j − μ̂_j)² locally. Codebooks are stored as int8 with an FP16 scale and
/// every channel then takes the nearest stored centroid. With empty importance the fit is unweighted (and the result
/// notes it). Stateless and thread-safe; deterministic for given options.
/// </summary>
public sealed class ActivationWeightedCodebookOptimizer : ICodebookOptimizer
{
    /// <summary>An optimizer with <paramref name="options"/> (default: <see cref="CodebookOptimizerOptions.Default"/>).</summary>
    public ActivationWeightedCodebookOptimizer(CodebookOptimizerOptions? options = null) =>
        Options = options ?? CodebookOptimizerOptions.Default;

    /// <summary>The options.</summary>
    public CodebookOptimizerOptions Options { get; }

    /// <inheritdoc />
    public string Name => string.Create(CultureInfo.InvariantCulture, $"activation-weighted kmeans b{Options.Bits} g{Options.GroupSize}");

    /// <inheritdoc />
    public long StoredBitsFor(int length) => QuantizedMultiplicationVector.StoredBitsOf(length, Options.Bits, Options.GroupSize);

    /// <inheritdoc />
    public QuantizedMultiplicationVector Quantize(TensorData vector, ReadOnlySpan<float> importance, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(vector);
        if (importance.IsEmpty)
            return CodebookFitting.Quantize(vector, [], Options, "awkmeans", ["no importance given: unweighted fit"], cancellationToken);
        CodebookFitting.ValidateImportance(vector, importance);
        return CodebookFitting.Quantize(vector, importance, Options, "awkmeans", [], cancellationToken);
    }
}
