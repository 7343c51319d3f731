using RwkvQuant.Formats;

namespace RwkvQuant.Quantization;

/// <summary>
/// An immutable quantized 2-D weight <c>[rows, columns]</c> (PyTorch's <c>[out, in]</c> layout): its packed storage,
/// an exact count of every bit it stores (codes, scales, zeros, codebooks, factors), and a reference
/// dequantization. Produced by an <see cref="IScalarQuantizer"/> or <see cref="IVectorQuantizer"/>.
/// </summary>
public abstract class QuantizedTensor
{
    /// <summary>Base constructor.</summary>
    /// <exception cref="ArgumentException">A dimension is not positive.</exception>
    protected QuantizedTensor(string name, int rows, int columns)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(columns, 1);
        Name = name;
        Rows = rows;
        Columns = columns;
    }

    /// <summary>The weight's name (canonical model key).</summary>
    public string Name { get; }

    /// <summary>Output dimension (rows of the <c>[out, in]</c> matrix).</summary>
    public int Rows { get; }

    /// <summary>Input dimension (columns).</summary>
    public int Columns { get; }

    /// <summary>Number of weights, <c>Rows · Columns</c>.</summary>
    public long ElementCount => (long)Rows * Columns;

    /// <summary>A short, stable description of the storage scheme, e.g. <c>"rtn a3 g64 f16"</c> or <c>"ggml q4_0"</c>.</summary>
    public abstract string Scheme { get; }

    /// <summary>Every bit this tensor stores: codes, scales, zeros, codebooks, permutations, factors.</summary>
    public abstract long StoredBits { get; }

    /// <summary>Stored bits per weight, <c>StoredBits / ElementCount</c>, overhead included.</summary>
    public double BitsPerWeight => (double)StoredBits / ElementCount;

    /// <summary>What the quantizer had to adapt (e.g. damping raised to make a Cholesky factorization succeed); the
    /// notes do not repeat the tensor's name.</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];

    /// <summary>
    /// The reference dequantization: the <c>[rows, columns]</c> weights, row-major, as float32. Plain code, the
    /// twin that every fast path is tested against.
    /// </summary>
    public abstract float[] Dequantize();

    /// <summary>The dequantized weights as a float32 tensor named <see cref="Name"/>.</summary>
    public TensorData ToTensorData() => TensorData.FromFloats(Name, [Rows, Columns], Dequantize());

    /// <inheritdoc />
    public override string ToString() => $"{Name} [{Rows}, {Columns}] {Scheme} {BitsPerWeight:F4} bpw";
}
