using RwkvQuant.Formats.Ggml;
using RwkvQuant.Quantization;

namespace RwkvQuant.Scalar.Ggml;

/// <summary>
/// A 2-D weight <c>[rows, columns]</c> stored in one of ggml's block formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0): row-major
/// blocks of 32 consecutive values of a row, each block self-contained (its fp16 scale, fp16 minimum for the _1
/// types, and its codes). The stored bits are exactly the blocks' bytes: Q4_0 18 bytes per 32 values (4.5 bits per
/// weight), Q4_1 20 (5.0), Q5_0 22 (5.5), Q5_1 24 (6.0), Q8_0 34 (8.5).
/// </summary>
public sealed class GgmlBlockTensor : QuantizedTensor
{
    private readonly byte[] _blocks;

    internal GgmlBlockTensor(string name, int rows, int columns, GgmlType type, byte[] blocks)
        : base(name, rows, columns)
    {
        if (!type.IsQuantized())
            throw new ArgumentException($"{type} is not a block-quantized ggml type.", nameof(type));
        long expected = type.StorageSize((long)rows * columns);
        if (expected < 0 || blocks.LongLength != expected)
            throw new ArgumentException($"Tensor '{name}' [{rows}, {columns}] as {type} takes {expected} bytes, got {blocks.LongLength}.", nameof(blocks));
        Type = type;
        _blocks = blocks;
    }

    /// <summary>The block format.</summary>
    public GgmlType Type { get; }

    /// <summary>The stored blocks, exactly as ggml and rwkv.cpp lay them out.</summary>
    public ReadOnlySpan<byte> Blocks => _blocks;

    /// <inheritdoc />
    public override string Scheme => $"ggml {Type.ToString().ToLowerInvariant()}";

    /// <summary>Every stored byte times 8: scales, minimums and codes of all blocks.</summary>
    public override long StoredBits => _blocks.LongLength * 8;

    /// <inheritdoc />
    public override float[] Dequantize()
    {
        var values = new float[ElementCount];
        GgmlBlocks.Dequantize(Type, _blocks, values);
        return values;
    }
}
