using RwkvQuant.Kernels.Packed;

namespace RwkvQuant.Kernels.MatVec;

/// <summary>The scalars a group-scalar kernel needs (a value type, passed by value to the kernel).</summary>
internal readonly record struct GroupScalarShape(int Rows, int Columns, int Bits, int GroupSize, int GroupsPerRow, int RowWords,
    int ParameterWords, int Format, int Symmetric, int HasPermutation, int Vectors)
{
    public static GroupScalarShape Of(PackedGroupScalar w, int vectors) => new(w.Rows, w.Columns, w.Bits, w.GroupSize, w.GroupsPerRow,
        w.RowBytes / 4, w.ParameterWords, (int)w.Format, w.Symmetric ? 1 : 0, w.Permutation is null ? 0 : 1, vectors);
}

/// <summary>The scalars a vector-quantized kernel needs.</summary>
internal readonly record struct VectorCodesShape(int Rows, int Columns, int Dimension, int Bits, int GroupRows, int GroupColumns,
    int ColumnGroups, int RowWords, int CodebookLength, int Format, int Vectors)
{
    public static VectorCodesShape Of(PackedVectorCodes w, int vectors) => new(w.Rows, w.Columns, w.Dimension, w.Bits, w.GroupRows,
        w.GroupColumns, w.ColumnGroups, w.RowBytes / 4, w.CodebookLength, (int)w.Format, vectors);
}

/// <summary>The scalars a ggml block kernel needs.</summary>
internal readonly record struct GgmlShape(int Type, int Rows, int Columns, int BlockBytes, int BlocksPerRow, int Vectors)
{
    public static GgmlShape Of(PackedGgmlBlocks w, int vectors) => new((int)w.Type, w.Rows, w.Columns, w.BlockBytes, w.BlocksPerRow, vectors);
}
