namespace RwkvQuant.Inference;

/// <summary>
/// Products with a matrix <c>[R, S·D]</c> whose S column slices each see only their own input slice (v6's stacked
/// <c>time_maa_w2</c>): y_s = W[:, s·D:(s+1)·D]·x[s·D:(s+1)·D], one output of R per slice, reading W once.
/// </summary>
internal static class BlockDiagonal
{
    /// <summary>Writes y <c>[S, R]</c> (slice-major) from x <c>[S·D]</c>; <paramref name="row"/> holds one row, <c>[S·D]</c>.</summary>
    public static void Multiply(IMatrixVectorProduct matrix, int slices, ReadOnlySpan<float> x, Span<float> y, Span<float> row)
    {
        int rows = matrix.Rows, columns = matrix.Columns, width = columns / slices;
        if (columns % slices != 0 || x.Length != columns || y.Length != slices * rows)
            throw new ArgumentException($"'{matrix.Name}' [{rows}, {columns}] in {slices} slices needs x [{columns}] and y [{slices * rows}]; got x [{x.Length}] and y [{y.Length}].", nameof(x));
        Span<float> decoded = row[..columns];
        for (int r = 0; r < rows; r++)
        {
            matrix.DecodeRow(r, decoded);
            for (int s = 0; s < slices; s++)
                y[s * rows + r] = System.Numerics.Tensors.TensorPrimitives.Dot(decoded.Slice(s * width, width), x.Slice(s * width, width));
        }
    }
}
