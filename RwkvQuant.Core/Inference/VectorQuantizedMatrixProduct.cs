using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using RwkvQuant.Vector;

namespace RwkvQuant.Inference;

/// <summary>
/// y = W·x straight from a <see cref="VectorQuantizedTensor"/>'s packed codes and codebooks. The codebooks (a few
/// kilobytes: 2^b·d floats per group, whatever their storage — int8 + scale, FP16 or SVD factors) are decoded once;
/// each row unpacks its codes, gathers its centroids into a small float buffer and takes one dot product with x.
/// With AVX2, scalar codebooks (d = 1) of up to 16 entries (b ≤ 4) on byte-aligned runs of 8 codes take a register
/// path instead: 8 codes widened from one 32-bit broadcast, their centroids looked up by a lane permute (two and a
/// select for 16 entries), multiplied into the accumulator.
/// </summary>
internal sealed class VectorQuantizedMatrixProduct : IRowRangeProduct
{
    private readonly VectorQuantizedTensor _tensor;
    private readonly VectorLayout _layout;
    private readonly float[] _codebooks; // [groups, 2^b, d]

    private readonly bool _vectorized;

    /// <summary>Wraps <paramref name="tensor"/>, decoding its codebooks.</summary>
    /// <param name="tensor">The quantized weight.</param>
    /// <param name="allowVectorized">False to keep to the portable path (its tests hold the two equal).</param>
    public VectorQuantizedMatrixProduct(VectorQuantizedTensor tensor, bool allowVectorized = true)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        _tensor = tensor;
        _layout = tensor.Layout;
        _codebooks = tensor.GetCodebooks();
        _vectorized = allowVectorized && Avx2.IsSupported && _layout.Dimension == 1 && _layout.Bits <= 4
            && _layout.Columns % 8 == 0 && _layout.GroupColumns % 8 == 0;
    }

    /// <summary>True when the products run the AVX2 path.</summary>
    internal bool IsVectorized => _vectorized;

    /// <inheritdoc />
    public string Name => _tensor.Name;

    /// <inheritdoc />
    public int Rows => _tensor.Rows;

    /// <inheritdoc />
    public int Columns => _tensor.Columns;

    /// <inheritdoc />
    public long WeightBytes => (_tensor.StoredBits + 7) / 8;

    /// <inheritdoc />
    public void Multiply(ReadOnlySpan<float> x, Span<float> y) => RowParallel.Multiply(this, x, y);

    /// <inheritdoc />
    public void MultiplyRows(ReadOnlySpan<float> x, Span<float> y, int start, int end)
    {
        if (_vectorized)
        {
            MultiplyRowsVectorized(x, y, start, end);
            return;
        }
        float[] buffer = ArrayPool<float>.Shared.Rent(Columns);
        int[] codes = ArrayPool<int>.Shared.Rent(_layout.VectorsPerRow);
        try
        {
            Span<float> row = buffer.AsSpan(0, Columns);
            for (int r = start; r < end; r++)
            {
                Gather(r, codes, row);
                y[r] = TensorPrimitives.Dot(row, x);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(buffer);
            ArrayPool<int>.Shared.Return(codes);
        }
    }

    /// <summary>The AVX2 rows for scalar codebooks of at most 16 entries (see the class remarks).</summary>
    private unsafe void MultiplyRowsVectorized(ReadOnlySpan<float> x, Span<float> y, int start, int end)
    {
        int columns = Columns, bits = _layout.Bits, groupColumns = _layout.GroupColumns, length = _layout.CodebookLength;
        Vector256<uint> shifts = Vector256.Create(0u, 1, 2, 3, 4, 5, 6, 7) * (uint)bits;
        Vector256<uint> mask = Vector256.Create((1u << bits) - 1);
        Vector256<int> upper = Vector256.Create(8);
        ReadOnlySpan<byte> codes = _tensor.PackedCodes;
        fixed (float* px = x, books = _codebooks)
        fixed (byte* packed = codes)
        {
            byte* streamEnd = packed + codes.Length;
            var table = stackalloc float[8];
            for (int r = start; r < end; r++)
            {
                byte* chunk = packed + (long)r * columns * bits / 8;
                Vector256<float> acc = Vector256<float>.Zero;
                for (int column = 0; column < columns; column += groupColumns)
                {
                    // This group's codebook as two 8-lane tables (entries 0–7 and 8–15); fewer than 8 entries are padded.
                    float* codebook = books + (long)_layout.GroupOf(r, column) * length;
                    Vector256<float> low, high = Vector256<float>.Zero;
                    if (length >= 8)
                    {
                        low = Vector256.Load(codebook);
                        if (length == 16)
                            high = Vector256.Load(codebook + 8);
                    }
                    else
                    {
                        for (int e = 0; e < 8; e++)
                            table[e] = e < length ? codebook[e] : 0;
                        low = Vector256.Load(table);
                    }
                    int stop = Math.Min(columns, column + groupColumns);
                    for (int c = column; c < stop; c += 8, chunk += bits)
                    {
                        uint word = chunk + 4 <= streamEnd ? *(uint*)chunk : Tail(chunk, streamEnd);
                        Vector256<int> q = (Avx2.ShiftRightLogicalVariable(Vector256.Create(word), shifts) & mask).AsInt32();
                        Vector256<float> centroids = Avx2.PermuteVar8x32(low, q);
                        if (bits == 4)
                            centroids = Vector256.ConditionalSelect(Vector256.Equals(q & upper, upper).AsSingle(), Avx2.PermuteVar8x32(high, q), centroids);
                        acc = Vector256.FusedMultiplyAdd(centroids, Vector256.Load(px + c), acc);
                    }
                }
                y[r] = Vector256.Sum(acc);
            }
        }
    }

    /// <summary>The last bytes of the code stream, zero-extended to 32 bits.</summary>
    private static unsafe uint Tail(byte* chunk, byte* end)
    {
        uint word = 0;
        for (int k = 0; chunk + k < end && k < 4; k++)
            word |= (uint)chunk[k] << (8 * k);
        return word;
    }

    /// <summary>Row <paramref name="row"/>'s centroids side by side (the row's values, in column order).</summary>
    private void Gather(int row, int[] codeBuffer, Span<float> destination)
    {
        int d = _layout.Dimension, vectors = _layout.VectorsPerRow, length = _layout.CodebookLength;
        int groupColumns = _layout.GroupColumns;
        Span<int> codes = codeBuffer.AsSpan(0, vectors);
        PackedCodes.Read(_tensor.PackedCodes, (long)row * vectors, _layout.Bits, codes);
        ReadOnlySpan<float> books = _codebooks;
        for (int column = 0; column < Columns; column += groupColumns)
        {
            ReadOnlySpan<float> codebook = books.Slice(_layout.GroupOf(row, column) * length, length);
            int end = Math.Min(Columns, column + groupColumns);
            if (d == 1)
            {
                for (int c = column; c < end; c++)
                    destination[c] = codebook[codes[c]];
            }
            else
            {
                for (int c = column; c < end; c += d)
                    codebook.Slice(codes[c / d] * d, d).CopyTo(destination.Slice(c, d));
            }
        }
    }

    /// <inheritdoc />
    public void DecodeRow(int row, Span<float> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(row);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(row, Rows);
        MatrixShapes.CheckRow(this, destination.Length);
        int[] codes = ArrayPool<int>.Shared.Rent(_layout.VectorsPerRow);
        try
        {
            Gather(row, codes, destination[..Columns]);
        }
        finally
        {
            ArrayPool<int>.Shared.Return(codes);
        }
    }
}
