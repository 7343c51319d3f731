using System.Buffers;
using System.Buffers.Binary;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using RwkvQuant.Kernels.Packed;

namespace RwkvQuant.Kernels.MatVec;

/// <summary>
/// The portable product of every packed layout: rows in parallel chunks, each row decoded to float32 into a small buffer
/// and multiplied with every vector by SIMD dot products (<see cref="TensorPrimitives"/>: AVX-512, AVX2, SSE or ARM64
/// AdvSimd, whichever the machine has). It runs wherever no lookup kernel takes a layout — group sizes that are not a
/// multiple of 8, VQ codebooks the machine's tier has no lookup for (more than one dimension or 16 entries without
/// AVX-512), ggml blocks on a processor without SIMD — and is the engine's product on a machine with none of those kernels. Each row is
/// read once per call for all vectors, so a batch (a prompt) decodes the codes once.
/// </summary>
public static class RowDecodeMatVec
{
    /// <summary>
    /// Effectively computes y[n, r] = Σ_k W[r, k]·x[n, k] for group-scalar weights: x is put in storage order (act-order's
    /// permutation) with its group sums X_g once per call, then per row Σ_g s_g·(Σ_{k∈g} q_k·x_k − z_g·X_g).
    /// </summary>
    public static void MatVec(PackedGroupScalar w, ReadOnlySpan<float> x, Span<float> y, int vectors)
    {
        ArgumentNullException.ThrowIfNull(w);
        Run(w, w.Rows, w.Columns, x, y, vectors, vectors * (w.Columns + w.GroupsPerRow), PrepareStorageOrder, GroupScalarRows);
    }

    /// <summary>Each x in storage order, <c>[vectors, Columns]</c>, then each one's group sums X_g, <c>[vectors, groups]</c>.</summary>
    private static void PrepareStorageOrder(PackedGroupScalar w, ReadOnlySpan<float> x, float[] prepared, int vectors)
    {
        int columns = w.Columns, groups = w.GroupsPerRow;
        for (int n = 0; n < vectors; n++)
        {
            StorageOrder.Prepare(x.Slice(n * columns, columns), w.Permutation, prepared.AsSpan(n * columns, columns), w.GroupSize,
                prepared.AsSpan(vectors * columns + n * groups, groups));
        }
    }

    private static void GroupScalarRows(PackedGroupScalar w, float[] prepared, float[] results, int vectors, int first, int end)
    {
        int columns = w.Columns, groups = w.GroupsPerRow, groupSize = w.GroupSize, parameters = groups * (w.Symmetric ? 1 : 2);
        float[] buffer = ArrayPool<float>.Shared.Rent(columns + parameters);
        try
        {
            Span<float> codes = buffer.AsSpan(0, columns), decoded = buffer.AsSpan(columns, parameters);
            for (int row = first; row < end; row++)
            {
                RowAlignedCodes.DecodeRow(w.Codes.AsSpan((int)((long)row * w.RowBytes), w.RowBytes), w.Bits, codes);
                w.DecodeParameters(row, decoded);
                for (int n = 0; n < vectors; n++)
                {
                    ReadOnlySpan<float> xs = prepared.AsSpan(n * columns, columns), sums = prepared.AsSpan(vectors * columns + n * groups, groups);
                    float total = 0;
                    for (int g = 0; g < groups; g++)
                    {
                        int from = g * groupSize, length = Math.Min(groupSize, columns - from);
                        float scale = w.Symmetric ? decoded[g] : decoded[2 * g];
                        float zero = w.Symmetric ? w.SymmetricZero : decoded[2 * g + 1];
                        total += scale * (TensorPrimitives.Dot(codes.Slice(from, length), xs.Slice(from, length)) - zero * sums[g]);
                    }
                    results[n * w.Rows + row] = total;
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Effectively computes y[n, r] = Σ_k W[r, k]·x[n, k] for vector-quantized weights: a row-group's codebooks are
    /// decoded once per run of its rows, each row's codes gathered from them.
    /// </summary>
    public static void MatVec(PackedVectorCodes w, ReadOnlySpan<float> x, Span<float> y, int vectors)
    {
        ArgumentNullException.ThrowIfNull(w);
        Run(w, w.Rows, w.Columns, x, y, vectors, vectors * w.Columns, CopyInputs, VectorCodeRows);
    }

    private static void VectorCodeRows(PackedVectorCodes w, float[] inputs, float[] results, int vectors, int first, int end)
    {
        int columns = w.Columns, length = w.CodebookLength, columnGroups = w.ColumnGroups;
        float[] buffer = ArrayPool<float>.Shared.Rent(columns + columnGroups * length);
        try
        {
            Span<float> row = buffer.AsSpan(0, columns), books = buffer.AsSpan(columns, columnGroups * length);
            int decodedRowGroup = -1;
            for (int r = first; r < end; r++)
            {
                int rowGroup = r / w.GroupRows;
                if (rowGroup != decodedRowGroup)
                {
                    w.DecodeCodebooks(rowGroup * columnGroups, columnGroups, books, length);
                    decodedRowGroup = rowGroup;
                }
                DecodeVectorRow(w, r, books, row);
                for (int n = 0; n < vectors; n++)
                    results[n * w.Rows + r] = TensorPrimitives.Dot(row, inputs.AsSpan(n * columns, columns));
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Row <paramref name="row"/> from its row-group's decoded codebooks (<paramref name="books"/>, one per column group):
    /// column groups outermost, so no code divides to find its group; codes read straight from the row's 64-bit windows.
    /// </summary>
    private static void DecodeVectorRow(PackedVectorCodes w, int row, ReadOnlySpan<float> books, Span<float> destination)
    {
        int d = w.Dimension, bits = w.Bits, length = w.CodebookLength, vectorsPerRow = w.VectorsPerRow, groupColumns = w.GroupColumns;
        uint mask = (1u << bits) - 1;
        // Rows are whole 64-bit words followed by slack, so an 8-byte read at any code's byte stays inside the array.
        ReadOnlySpan<byte> codes = w.Codes.AsSpan(checked((int)((long)row * w.RowBytes)), w.RowBytes + RowAlignedCodes.Slack);
        // 2-D vectors move as one 64-bit word (no span copy per code: that was most of the 2-D product's time).
        Span<long> pairs = d == 2 ? MemoryMarshal.Cast<float, long>(destination) : default;
        int v = 0;
        for (int g = 0; v < vectorsPerRow; g++)
        {
            // A vector belongs to the group of its first column.
            int end = Math.Min(vectorsPerRow, ((g + 1) * groupColumns + d - 1) / d);
            ReadOnlySpan<float> book = books.Slice(g * length, length);
            ReadOnlySpan<long> bookPairs = d == 2 ? MemoryMarshal.Cast<float, long>(book) : default;
            for (; v < end; v++)
            {
                int bit = v * bits;
                int code = (int)((uint)(BinaryPrimitives.ReadUInt64LittleEndian(codes[(bit >> 3)..]) >> (bit & 7)) & mask);
                if (d == 1)
                    destination[v] = book[code];
                else if (d == 2)
                    pairs[v] = bookPairs[code];
                else
                    book.Slice(code * d, d).CopyTo(destination.Slice(v * d, d));
            }
        }
    }

    /// <summary>Effectively computes y[n, r] = Σ_k W[r, k]·x[n, k] for ggml blocks, each row decoded block by block as ggml's reference dequantization does.</summary>
    public static void MatVec(PackedGgmlBlocks w, ReadOnlySpan<float> x, Span<float> y, int vectors)
    {
        ArgumentNullException.ThrowIfNull(w);
        Run(w, w.Rows, w.Columns, x, y, vectors, vectors * w.Columns, CopyInputs, BlockRows);
    }

    private static void BlockRows(PackedGgmlBlocks w, float[] inputs, float[] results, int vectors, int first, int end) =>
        DecodedRows(w, w.Rows, w.Columns, PackedReference.DecodeRow, inputs, results, vectors, first, end);

    /// <summary>Decodes one row of a layout into float32 (the reference's row decoders).</summary>
    private delegate void RowDecoder<in TLayout>(TLayout w, int row, Span<float> destination);

    /// <summary>Rows [first, end): each decoded by <paramref name="decode"/> into a rented buffer, then dotted with every vector.</summary>
    private static void DecodedRows<TLayout>(TLayout w, int rows, int columns, RowDecoder<TLayout> decode, float[] inputs, float[] results,
        int vectors, int first, int end)
    {
        float[] buffer = ArrayPool<float>.Shared.Rent(columns);
        try
        {
            Span<float> row = buffer.AsSpan(0, columns);
            for (int r = first; r < end; r++)
            {
                decode(w, r, row);
                for (int n = 0; n < vectors; n++)
                    results[n * rows + r] = TensorPrimitives.Dot(row, inputs.AsSpan(n * columns, columns));
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Effectively computes y[n, r] = Σ_k W[r, k]·x[n, k] for llama.cpp's k-quant and IQ4 blocks, each row decoded block
    /// by block as ggml's reference dequantization does.
    /// </summary>
    public static void MatVec(PackedKQuantBlocks w, ReadOnlySpan<float> x, Span<float> y, int vectors)
    {
        ArgumentNullException.ThrowIfNull(w);
        Run(w, w.Rows, w.Columns, x, y, vectors, vectors * w.Columns, CopyInputs, KQuantRows);
    }

    private static void KQuantRows(PackedKQuantBlocks w, float[] inputs, float[] results, int vectors, int first, int end) =>
        DecodedRows(w, w.Rows, w.Columns, PackedReference.DecodeRow, inputs, results, vectors, first, end);

    /// <summary>x <c>[vectors, columns]</c> as the row decoders read it, into <c>inputs</c>.</summary>
    private delegate void PrepareInputs<in TLayout>(TLayout w, ReadOnlySpan<float> x, float[] inputs, int vectors);

    /// <summary>Rows [first, end) of y <c>[vectors, rows]</c> from the prepared inputs, both as rented arrays.</summary>
    private delegate void RowRange<in TLayout>(TLayout w, float[] inputs, float[] results, int vectors, int first, int end);

    /// <summary>x as it is.</summary>
    private static void CopyInputs<TLayout>(TLayout w, ReadOnlySpan<float> x, float[] inputs, int vectors) => x.CopyTo(inputs);

    /// <summary>
    /// Checks the shapes, prepares x into a rented array of <paramref name="inputFloats"/> and runs <paramref name="body"/>
    /// over row chunks in parallel.
    /// </summary>
    private static void Run<TLayout>(TLayout w, int rows, int columns, ReadOnlySpan<float> x, Span<float> y, int vectors, int inputFloats,
        PrepareInputs<TLayout> prepare, RowRange<TLayout> body)
    {
        PackedReference.CheckShapes(rows, columns, x, y, vectors);
        float[] inputs = ArrayPool<float>.Shared.Rent(inputFloats);
        float[] results = ArrayPool<float>.Shared.Rent(vectors * rows);
        try
        {
            prepare(w, x, inputs, vectors);
            RowPartition.For(rows, (long)columns * vectors, (first, end) => body(w, inputs, results, vectors, first, end));
            results.AsSpan(0, vectors * rows).CopyTo(y);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(inputs);
            ArrayPool<float>.Shared.Return(results);
        }
    }
}
