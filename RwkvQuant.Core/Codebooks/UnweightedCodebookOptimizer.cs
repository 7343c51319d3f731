using System.Globalization;
using RwkvQuant.Formats;

namespace RwkvQuant.Codebooks;

/// <summary>
/// The ablation baseline of <see cref="ActivationWeightedCodebookOptimizer"/>: the same groups, k-means, int8 codebooks
/// and final assignment, but every channel weighs the same (s_j = 1), so it minimises Σ_j (μ_j − μ̂_j)². The importance
/// argument is ignored. Stateless and thread-safe; deterministic for given options.
/// </summary>
public sealed class UnweightedCodebookOptimizer : ICodebookOptimizer
{
    /// <summary>An optimizer with <paramref name="options"/> (default: <see cref="CodebookOptimizerOptions.Default"/>).</summary>
    public UnweightedCodebookOptimizer(CodebookOptimizerOptions? options = null) =>
        Options = options ?? CodebookOptimizerOptions.Default;

    /// <summary>The options.</summary>
    public CodebookOptimizerOptions Options { get; }

    /// <inheritdoc />
    public string Name => string.Create(CultureInfo.InvariantCulture, $"kmeans b{Options.Bits} g{Options.GroupSize}");

    /// <inheritdoc />
    public long StoredBitsFor(int length) => QuantizedMultiplicationVector.StoredBitsOf(length, Options.Bits, Options.GroupSize);

    /// <inheritdoc />
    public QuantizedMultiplicationVector Quantize(TensorData vector, ReadOnlySpan<float> importance, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(vector);
        return CodebookFitting.Quantize(vector, [], Options, "kmeans", [], cancellationToken);
    }
}
