using RwkvQuant.Formats;
using RwkvQuant.Quantization;

namespace RwkvQuant.Vector;

/// <summary>Shared checks and data movement of the vector quantizers.</summary>
internal static class VectorInput
{
    /// <summary>
    /// Reads <paramref name="weight"/> as a finite 2-D float matrix and checks the Hessian against it.
    /// </summary>
    /// <exception cref="ArgumentException">Not 2-D, not floating point, NaN or infinity, or a bad/missing Hessian.</exception>
    public static float[] Read(TensorData weight, Hessian? hessian, bool requiresHessian, out int rows, out int columns)
    {
        ArgumentNullException.ThrowIfNull(weight);
        if (weight.Shape.Count != 2 || weight.Shape[0] < 1 || weight.Shape[1] < 1 || weight.Shape[0] > int.MaxValue || weight.Shape[1] > int.MaxValue)
            throw new ArgumentException($"Tensor '{weight.Name}' has shape [{string.Join(", ", weight.Shape)}]; vector quantization needs a non-empty 2-D weight [rows, columns].", nameof(weight));
        rows = (int)weight.Shape[0];
        columns = (int)weight.Shape[1];
        float[] values;
        try
        {
            values = weight.ToFloatArray();
        }
        catch (InvalidOperationException e)
        {
            throw new ArgumentException($"Tensor '{weight.Name}' of type {weight.Type} is not floating point.", nameof(weight), e);
        }
        for (int i = 0; i < values.Length; i++)
        {
            if (!float.IsFinite(values[i]))
                throw new ArgumentException($"Tensor '{weight.Name}' holds {values[i]} at [{i / columns}, {i % columns}]; only finite weights can be quantized.", nameof(weight));
            // Codebooks are stored in FP16 (or int8 over an FP16 scale) and centroids lie among the weights.
            if (Math.Abs(values[i]) > (float)Half.MaxValue)
                throw new ArgumentException($"Tensor '{weight.Name}' holds {values[i]} at [{i / columns}, {i % columns}]; codebooks are stored in FP16, which reaches only ±{(float)Half.MaxValue}.", nameof(weight));
        }
        if (requiresHessian && hessian is null)
            throw new ArgumentException($"Quantizing tensor '{weight.Name}' needs a Hessian [{columns}, {columns}].", nameof(hessian));
        if (hessian is not null && hessian.Size != columns)
            throw new ArgumentException($"Tensor '{weight.Name}' has {columns} columns but the Hessian is [{hessian.Size}, {hessian.Size}].", nameof(hessian));
        return values;
    }

    /// <summary>
    /// Copies group <paramref name="group"/>'s vectors out of the row-major weight <paramref name="values"/> into
    /// <paramref name="points"/> (<c>[n, d]</c>, rows of the group in order, vectors left to right); returns n.
    /// </summary>
    public static int Gather(ReadOnlySpan<float> values, VectorLayout layout, int group, Span<float> points)
    {
        GroupBounds(layout, group, out int row0, out int row1, out int column0, out int column1);
        int width = column1 - column0, count = 0;
        for (int row = row0; row < row1; row++)
        {
            values.Slice(row * layout.Columns + column0, width).CopyTo(points.Slice(count, width));
            count += width;
        }
        return count / layout.Dimension;
    }

    /// <summary>Writes the n codes of group <paramref name="group"/> (in <see cref="Gather"/>'s order) into the tensor's codes.</summary>
    public static void Scatter(ReadOnlySpan<int> groupCodes, VectorLayout layout, int group, Span<int> codes)
    {
        GroupBounds(layout, group, out int row0, out int row1, out int column0, out int column1);
        int vectors = (column1 - column0) / layout.Dimension, count = 0;
        for (int row = row0; row < row1; row++)
        {
            groupCodes.Slice(count, vectors).CopyTo(codes.Slice(row * layout.VectorsPerRow + column0 / layout.Dimension, vectors));
            count += vectors;
        }
    }

    /// <summary>Rows [row0, row1) and columns [column0, column1) of a group (smaller at the bottom and right edges).</summary>
    public static void GroupBounds(VectorLayout layout, int group, out int row0, out int row1, out int column0, out int column1)
    {
        row0 = group / layout.ColumnGroups * layout.GroupRows;
        row1 = Math.Min(row0 + layout.GroupRows, layout.Rows);
        column0 = group % layout.ColumnGroups * layout.GroupColumns;
        column1 = Math.Min(column0 + layout.GroupColumns, layout.Columns);
    }
}
