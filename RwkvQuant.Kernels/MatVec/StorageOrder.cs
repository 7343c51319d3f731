using System.Numerics.Tensors;

namespace RwkvQuant.Kernels.MatVec;

/// <summary>The group-scalar kernel's view of x: storage (act-order) column order, zero-padded, with per-group sums.</summary>
internal static class StorageOrder
{
    /// <summary>
    /// Writes <paramref name="source"/> (<c>columns</c> values) into <paramref name="target"/> in storage order
    /// (<c>target[k] = source[permutation[k]]</c>, identity when null), zeros after the last column, and into
    /// <paramref name="groupSums"/> the sum of each group of <paramref name="groupSize"/> storage columns (X_g).
    /// </summary>
    public static void Prepare(ReadOnlySpan<float> source, int[]? permutation, Span<float> target, int groupSize, Span<float> groupSums)
    {
        int columns = source.Length;
        if (permutation is null)
            source.CopyTo(target);
        else
            for (int k = 0; k < columns; k++)
                target[k] = source[permutation[k]];
        target[columns..].Clear();
        for (int g = 0; g < groupSums.Length; g++)
        {
            int start = g * groupSize;
            groupSums[g] = TensorPrimitives.Sum(target.Slice(start, Math.Min(groupSize, columns - start)));
        }
    }
}
