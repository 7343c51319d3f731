using System.Buffers;

namespace RwkvQuant.Inference;

/// <summary>
/// Products with a matrix <c>[R, S·D]</c> whose S column slices each see only their own input slice (v6's stacked
/// <c>time_maa_w2</c>): y_s = W[:, s·D:(s+1)·D]·x[s·D:(s+1)·D]. Each y_s is the whole product of W with x zeroed outside
/// slice s, so every storage scheme (act-order included) works through its own fast product; the matrix is small (a
/// LoRA), so its S passes come from cache.
/// </summary>
internal static class BlockDiagonal
{
    /// <summary>Writes y <c>[S, T, R]</c> (slice-major) from x <c>[T, S·D]</c>, the <paramref name="vectors"/> = T
    /// inputs of a run of tokens.</summary>
    public static void Multiply(IMatrixVectorProduct matrix, int slices, ReadOnlySpan<float> x, Span<float> y, int vectors)
    {
        int rows = matrix.Rows, columns = matrix.Columns, width = columns / slices;
        if (columns % slices != 0 || vectors < 1 || x.Length != vectors * columns || y.Length != slices * vectors * rows)
            throw new ArgumentException($"'{matrix.Name}' [{rows}, {columns}] in {slices} slices needs x [{vectors}, {columns}] and y [{slices}, {vectors}, {rows}]; got x [{x.Length}] and y [{y.Length}] values.", nameof(x));
        float[] buffer = ArrayPool<float>.Shared.Rent(vectors * columns);
        try
        {
            Span<float> masked = buffer.AsSpan(0, vectors * columns);
            masked.Clear();
            for (int s = 0; s < slices; s++)
            {
                for (int n = 0; n < vectors; n++)
                    x.Slice(n * columns + s * width, width).CopyTo(masked.Slice(n * columns + s * width, width));
                matrix.Multiply(masked, y.Slice(s * vectors * rows, vectors * rows), vectors);
                for (int n = 0; n < vectors; n++)
                    masked.Slice(n * columns + s * width, width).Clear();
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(buffer);
        }
    }
}
