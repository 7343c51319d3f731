using RwkvQuant.Kernels.MatVec;
using RwkvQuant.Kernels.Packed;
using RwkvQuant.Quantization;

namespace RwkvQuant.Scalar.KQuants;

/// <summary>
/// A 2-D weight <c>[rows, columns]</c> stored in one of llama.cpp's k-quant or IQ4 formats (<see cref="KQuantType"/>):
/// row-major blocks of 256 (IQ4_NL: 32) consecutive values of a row, exactly ggml's bytes, so that they can be written
/// into a GGUF file as they are. The stored bits are the blocks' bytes: Q2_K 2.625 bits per weight, Q3_K 3.4375, Q4_K
/// 4.5, IQ4_XS 4.25, IQ4_NL 4.5, IQ3_S 3.4375.
/// </summary>
public sealed class KQuantTensor : QuantizedTensor
{
    private readonly byte[] _blocks;

    internal KQuantTensor(string name, int rows, int columns, KQuantType type, byte[] blocks)
        : base(name, rows, columns)
    {
        long expected = type.StorageSize((long)rows * columns);
        if (columns % type.ValuesPerBlock() != 0 || blocks.LongLength != expected)
            throw new ArgumentException($"Tensor '{name}' [{rows}, {columns}] as {type} takes {expected} bytes in blocks along rows, got {blocks.LongLength}.", nameof(blocks));
        Type = type;
        _blocks = blocks;
    }

    /// <summary>The block format.</summary>
    public KQuantType Type { get; }

    /// <summary>The stored blocks, exactly as ggml lays them out.</summary>
    public ReadOnlySpan<byte> Blocks => _blocks;

    /// <inheritdoc />
    public override string Scheme => $"ggml {Type.ToString().ToLowerInvariant()}";

    /// <summary>Every stored byte times 8: super-block scales, sub-block scales and codes.</summary>
    public override long StoredBits => _blocks.LongLength * 8;

    /// <inheritdoc />
    public override float[] Dequantize()
    {
        var values = new float[ElementCount];
        PackedReference.DecodeBlocks(Type, _blocks, values);
        return values;
    }

    /// <summary>The kernels' view of the same bytes (a copy).</summary>
    internal PackedKQuantBlocks ToPacked() => PackedKQuantBlocks.FromBlocks(Type, Rows, Columns, _blocks);
}
