using System.Globalization;
using RwkvQuant.Packing;
using RwkvQuant.Quantization;

namespace RwkvQuant.Vector;

/// <summary>
/// A vector-quantized weight <c>[rows, columns]</c>. The weight is cut into codebook groups of
/// <see cref="GroupRows"/> rows × <see cref="GroupColumns"/> columns (the groups at the bottom and right edges may be
/// smaller), numbered row-major. Within a group each row is cut into vectors of <see cref="Dimension"/> consecutive
/// columns; each vector stores the <see cref="Bits"/>-bit index of one of the 2^Bits centroids (of dimension d) of its
/// group's codebook. Codes are bit-packed (<see cref="BitPacking"/>) row-major over the vectors: code (r, v) covers
/// columns [v·d, v·d + d) of row r.
/// <para>Codebooks are stored as int8 with one FP16 scale each (centroid = scale · int8), as FP16, or as rank-r SVD
/// factors of the stacked codebooks C <c>[groups, 2^b·d]</c> ≈ U <c>fp16[groups, r]</c> · V <c>fp16[r, 2^b·d]</c>.</para>
/// <para><see cref="QuantizedTensor.StoredBits"/> = 8·⌈codes·b / 8⌉ (the packed code bytes) + the codebook storage:
/// groups·(8·2^b·d + 16) for int8 + scale, 16·groups·2^b·d for FP16, 16·r·(groups + 2^b·d) for SVD factors.</para>
/// </summary>
public sealed class VectorQuantizedTensor : QuantizedTensor
{
    private readonly VectorLayout _layout;
    private readonly byte[] _packedCodes;
    private readonly CodebookStore _codebooks;
    private readonly string _method;

    internal VectorQuantizedTensor(string name, VectorLayout layout, ReadOnlySpan<int> codes, CodebookStore codebooks, string method)
        : this(name, layout, PackCodes(name, layout, codes), codebooks, method)
    {
    }

    private VectorQuantizedTensor(string name, VectorLayout layout, byte[] packedCodes, CodebookStore codebooks, string method)
        : base(name, layout.Rows, layout.Columns)
    {
        ArgumentException.ThrowIfNullOrEmpty(method);
        ArgumentNullException.ThrowIfNull(codebooks);
        layout.Validate(name);
        long codeBytes = BitPacking.PackedLength(layout.CodeCount, layout.Bits);
        if (packedCodes.LongLength != codeBytes)
            throw new ArgumentException($"Tensor '{name}' needs {codeBytes} bytes of {layout.Bits}-bit codes, got {packedCodes.LongLength}.", nameof(packedCodes));
        if (codebooks.Groups != layout.Groups || codebooks.Length != layout.CodebookLength)
            throw new ArgumentException($"Tensor '{name}' needs {layout.Groups} codebooks of {layout.CodebookLength} values, got {codebooks.Groups} of {codebooks.Length}.", nameof(codebooks));
        _layout = layout;
        _packedCodes = packedCodes;
        _codebooks = codebooks;
        _method = method;
    }

    /// <summary>Rebuilds a tensor from its packed codes (taken) and stored codebooks; every size is checked.</summary>
    /// <exception cref="ArgumentException">The layout is invalid or a part has the wrong size.</exception>
    internal static VectorQuantizedTensor FromStoredParts(string name, VectorLayout layout, byte[] packedCodes, CodebookStore codebooks, string method)
    {
        ArgumentNullException.ThrowIfNull(packedCodes);
        return new VectorQuantizedTensor(name, layout, packedCodes, codebooks, method);
    }

    private static byte[] PackCodes(string name, VectorLayout layout, ReadOnlySpan<int> codes)
    {
        layout.Validate(name);
        if (codes.Length != layout.CodeCount)
            throw new ArgumentException($"Tensor '{name}' needs {layout.CodeCount} codes, got {codes.Length}.", nameof(codes));
        return BitPacking.Pack(codes, layout.Bits);
    }

    /// <summary>Vector dimension d: consecutive columns per code.</summary>
    public int Dimension => _layout.Dimension;

    /// <summary>Bits b per code; each codebook holds 2^b centroids.</summary>
    public int Bits => _layout.Bits;

    /// <summary>Rows per codebook group.</summary>
    public int GroupRows => _layout.GroupRows;

    /// <summary>Columns per codebook group.</summary>
    public int GroupColumns => _layout.GroupColumns;

    /// <summary>Number of codebooks (groups).</summary>
    public int CodebookCount => _layout.Groups;

    /// <summary>The rank of the stored SVD factors of the codebooks, or 0 when codebooks are stored directly.</summary>
    public int SvdRank => _codebooks.SvdRank;

    /// <summary>The codebook storage precision (applies when <see cref="SvdRank"/> is 0; SVD factors are FP16).</summary>
    public CodebookPrecision CodebookPrecision => _codebooks.Precision;

    internal VectorLayout Layout => _layout;

    internal ReadOnlySpan<byte> PackedCodes => _packedCodes;

    internal CodebookStore Codebooks => _codebooks;

    /// <summary>The quantizer that produced it, e.g. <c>"kmeans"</c>.</summary>
    internal string Method => _method;

    internal long CodeBits => 8L * _packedCodes.Length;

    internal long CodebookBits => _codebooks.StoredBits;

    /// <inheritdoc />
    public override string Scheme => string.Create(CultureInfo.InvariantCulture,
        $"{_method} d{Dimension} b{Bits} g{GroupRows}x{GroupColumns} {_codebooks.Describe()}");

    /// <inheritdoc />
    public override long StoredBits => CodeBits + CodebookBits;

    /// <summary><see cref="StoredBits"/> of a tensor with this layout and codebook storage, from the sizes alone.</summary>
    internal static long StoredBitsOf(VectorLayout layout, CodebookPrecision precision, int svdRank) =>
        8L * BitPacking.PackedLength(layout.CodeCount, layout.Bits)
        + CodebookStore.StoredBitsOf(layout.Groups, layout.CodebookLength, precision, svdRank);

    /// <summary>The codes, unpacked: <c>[rows, columns / d]</c> row-major, each in [0, 2^b).</summary>
    public int[] GetCodes() => BitPacking.Unpack(_packedCodes, Bits, checked((int)_layout.CodeCount));

    /// <summary>The decoded codebooks <c>[groups, 2^b, d]</c> row-major, as dequantization uses them.</summary>
    public float[] GetCodebooks() => _codebooks.Decode();

    /// <inheritdoc />
    public override float[] Dequantize()
    {
        int[] codes = GetCodes();
        float[] codebooks = _codebooks.Decode();
        int d = Dimension, length = _layout.CodebookLength, vectors = _layout.VectorsPerRow;
        var weights = new float[ElementCount];
        for (int row = 0; row < Rows; row++)
        {
            for (int v = 0; v < vectors; v++)
            {
                int column = v * d;
                long centroid = (long)_layout.GroupOf(row, column) * length + (long)codes[(long)row * vectors + v] * d;
                for (int j = 0; j < d; j++)
                    weights[(long)row * Columns + column + j] = codebooks[centroid + j];
            }
        }
        return weights;
    }
}
