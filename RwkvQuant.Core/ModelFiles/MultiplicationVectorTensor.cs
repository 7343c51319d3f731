using RwkvQuant.Codebooks;
using RwkvQuant.Quantization;

namespace RwkvQuant.ModelFiles;

/// <summary>
/// A <see cref="QuantizedMultiplicationVector"/> (an element-wise multiplication vector quantized by an
/// <see cref="ICodebookOptimizer"/>) seen as the <c>[1, C]</c> quantized tensor that a <see cref="QuantizedModel"/>
/// holds: its values in channel order are the canonical values, and its scheme, stored bits and dequantization are
/// the vector's. Immutable.
/// </summary>
public sealed class MultiplicationVectorTensor : QuantizedTensor
{
    /// <summary>Wraps <paramref name="vector"/>.</summary>
    public MultiplicationVectorTensor(QuantizedMultiplicationVector vector)
        : base(NameOf(vector), 1, vector.Length)
    {
        Vector = vector;
        Notes = vector.Notes;
    }

    /// <summary>The quantized vector.</summary>
    public QuantizedMultiplicationVector Vector { get; }

    /// <inheritdoc />
    public override string Scheme => Vector.Scheme;

    /// <inheritdoc />
    public override long StoredBits => Vector.StoredBits;

    /// <inheritdoc />
    public override float[] Dequantize() => Vector.Dequantize();

    private static string NameOf(QuantizedMultiplicationVector vector)
    {
        ArgumentNullException.ThrowIfNull(vector);
        return vector.Name;
    }
}
