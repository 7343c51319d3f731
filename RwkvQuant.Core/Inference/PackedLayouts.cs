using System.Runtime.InteropServices;
using RwkvQuant.Formats.Ggml;
using RwkvQuant.Kernels.Packed;
using RwkvQuant.Scalar;
using RwkvQuant.Scalar.Ggml;
using RwkvQuant.Vector;

namespace RwkvQuant.Inference;

/// <summary>
/// Converts quantized tensors into the kernels' packed layouts from their stored parts (codes, scales, zeros,
/// permutation, codebooks, blocks), never through float weights. The layouts dequantize to exactly what the tensor's
/// own <c>Dequantize()</c> returns.
/// </summary>
internal static class PackedLayouts
{
    /// <summary>
    /// Group-scalar codes re-laid row-aligned, with the stored scales, zeros and column order. 6-bit scales and zeros
    /// (<see cref="ScalePrecision.Int6"/>) are expanded to the float32 values they stand for (exact: a step times a
    /// 6-bit integer), which the kernels read like any stored float.
    /// </summary>
    public static PackedGroupScalar ToPacked(GroupScalarTensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        int[] order = tensor.HasPermutation ? tensor.GetColumnOrder() : [];
        if (tensor.ScalePrecision == ScalePrecision.Int6)
        {
            (float[] scales, float[] zeros) = tensor.DecodeGroupParameters();
            return PackedGroupScalar.FromDense(tensor.Rows, tensor.Columns, tensor.Bits, tensor.GroupSize, tensor.Symmetric, ScaleFormat.F32,
                tensor.PackedCodes, MemoryMarshal.AsBytes(scales.AsSpan()), tensor.Symmetric ? [] : MemoryMarshal.AsBytes(zeros.AsSpan()), order);
        }
        ScaleFormat format = tensor.ScalePrecision switch
        {
            ScalePrecision.F16 => ScaleFormat.F16,
            ScalePrecision.BF16 => ScaleFormat.BF16,
            ScalePrecision.F32 => ScaleFormat.F32,
            _ => throw new ArgumentException($"Tensor '{tensor.Name}' has an unknown scale precision {tensor.ScalePrecision}.", nameof(tensor)),
        };
        return PackedGroupScalar.FromDense(tensor.Rows, tensor.Columns, tensor.Bits, tensor.GroupSize, tensor.Symmetric, format,
            tensor.PackedCodes, tensor.StoredScales, tensor.StoredZeros, order);
    }

    /// <summary>
    /// VQ codes re-laid row-aligned, with the codebooks as stored (int8 + FP16 scale, or FP16); SVD-factored codebooks
    /// are rebuilt to float32 exactly as the tensor's dequantization rebuilds them.
    /// </summary>
    public static PackedVectorCodes ToPacked(VectorQuantizedTensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        VectorLayout l = tensor.Layout;
        CodebookStore books = tensor.Codebooks;
        if (books.SvdRank > 0)
            return PackedVectorCodes.FromSingle(l.Rows, l.Columns, l.Dimension, l.Bits, l.GroupRows, l.GroupColumns, tensor.PackedCodes, books.Decode());
        if (books.Precision == CodebookPrecision.Int8WithScale)
            return PackedVectorCodes.FromInt8(l.Rows, l.Columns, l.Dimension, l.Bits, l.GroupRows, l.GroupColumns, tensor.PackedCodes,
                books.Int8, MemoryMarshal.Cast<Half, ushort>(books.Int8Scales));
        return PackedVectorCodes.FromHalf(l.Rows, l.Columns, l.Dimension, l.Bits, l.GroupRows, l.GroupColumns, tensor.PackedCodes,
            MemoryMarshal.Cast<Half, ushort>(books.Fp16));
    }

    /// <summary>The ggml blocks, byte for byte.</summary>
    public static PackedGgmlBlocks ToPacked(GgmlBlockTensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (!tensor.Type.IsQuantized())
            throw new ArgumentException($"Tensor '{tensor.Name}' is {tensor.Type}, not a block-quantized type.", nameof(tensor));
        GgmlBlockType type = tensor.Type.ToBlockType();
        return PackedGgmlBlocks.FromBlocks(type, tensor.Rows, tensor.Columns, tensor.Blocks);
    }
}
