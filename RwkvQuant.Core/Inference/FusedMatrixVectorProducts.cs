using RwkvQuant.Formats;
using RwkvQuant.Kernels.MatVec;
using RwkvQuant.Kernels.Packed;
using RwkvQuant.Quantization;
using RwkvQuant.Scalar;
using RwkvQuant.Scalar.Ggml;
using RwkvQuant.Scalar.KQuants;
using RwkvQuant.Vector;

namespace RwkvQuant.Inference;

/// <summary>
/// The engine's default <see cref="IMatrixVectorProductFactory"/>: quantized weights go to the fused dequantize × vector
/// kernels of RwkvQuant.Kernels over the weight re-laid in the kernels' packed layouts
/// (<see cref="PackedLayouts"/>): group-scalar codes by table lookup over bit planes (group sizes a multiple of 8; float
/// tables with AVX-512, <see cref="BitPlaneMatVec"/>; else 8-bit tables, AVX2 or 128-bit,
/// <see cref="NibbleTableMatVec"/>), VQ codes by centroid lookup (<see cref="VectorCodesMatVec"/>: AVX-512 in registers; AVX2
/// by register permutes for 1-D codebooks of up to 16 entries, from the decoded table for 2-D and larger ones; 128-bit for 1-D
/// codebooks of up to 16 entries and 2-D ones), ggml blocks (AVX-512, AVX2 or 128-bit, <see cref="GgmlMatVec"/>), k-quant
/// and IQ4 blocks (AVX2 or 128-bit, <see cref="KQuantMatVec"/>). Whatever those
/// kernels do not run fast — a group size that is not a multiple of 8, a codebook too large for an in-register lookup, ggml blocks that straddle rows, a kept matrix — goes to
/// <see cref="MatrixVectorProducts.Default"/>: the same packed layouts multiplied by the kernels' portable row-decoding
/// product (<see cref="RowDecodeMatVec"/>). Every product lives in RwkvQuant.Kernels; this class only chooses.
/// </summary>
internal sealed class FusedMatrixVectorProducts : IMatrixVectorProductFactory
{
    /// <summary>
    /// The engine's products on this machine: group-scalar codes by the exact float lookup where AVX-512 runs it at
    /// memory speed, else by 8-bit tables (<see cref="NibbleTableMatVec"/>, AVX2 or 128-bit: ARM64 <c>tbl</c>).
    /// </summary>
    public static FusedMatrixVectorProducts Default { get; } = new(
        !SimdTiers.IsSupported(SimdTier.Avx512) && NibbleTableMatVec.IsSupported ? GroupScalarLookup.Int8Tables : GroupScalarLookup.FloatTables);

    /// <summary>The same with group-scalar products always by the exact float lookup (the widest tier this machine runs).</summary>
    public static FusedMatrixVectorProducts FloatLookup { get; } = new(GroupScalarLookup.FloatTables);

    private readonly GroupScalarLookup _lookup;

    private FusedMatrixVectorProducts(GroupScalarLookup lookup) => _lookup = lookup;

    /// <summary>How x is looked up in the group-scalar product.</summary>
    internal GroupScalarLookup Lookup => _lookup;

    /// <summary>True when <paramref name="tensor"/> would run on a fused kernel on this machine.</summary>
    public static bool Handles(QuantizedTensor tensor) => tensor switch
    {
        GroupScalarTensor scalar => BitPlaneMatVec.Runs(scalar.GroupSize),
        VectorQuantizedTensor vector => VectorCodesMatVec.TierFor(vector.Layout.Dimension, vector.Layout.Bits, vector.Layout.GroupColumns) != SimdTier.Scalar,
        GgmlBlockTensor blocks => GgmlMatVec.Tier != SimdTier.Scalar && blocks.Columns % PackedGgmlBlocks.BlockSize == 0, // blocks within rows
        KQuantTensor => KQuantMatVec.Tier != SimdTier.Scalar,
        _ => false,
    };

    /// <inheritdoc />
    /// <exception cref="NotSupportedException">The tensor's scheme has no matrix-vector product.</exception>
    public IMatrixVectorProduct Create(QuantizedTensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (!Handles(tensor))
            return MatrixVectorProducts.Default.Create(tensor);
        return tensor switch
        {
            GroupScalarTensor scalar when _lookup == GroupScalarLookup.Int8Tables =>
                new PackedMatrixProduct<PackedBitPlanes>(scalar, PackedBitPlanes.From(PackedLayouts.ToPacked(scalar), ProductThreads.Count),
                    static (w, x, y, n) => NibbleTableMatVec.MatVec(w, x, y, n), PackedReference.DecodeRow),
            GroupScalarTensor scalar =>
                new PackedMatrixProduct<PackedBitPlanes>(scalar, PackedBitPlanes.From(PackedLayouts.ToPacked(scalar), ProductThreads.Count),
                    static (w, x, y, n) => BitPlaneMatVec.MatVec(w, x, y, n), PackedReference.DecodeRow),
            VectorQuantizedTensor vector => new PackedMatrixProduct<PackedVectorCodes>(vector, PackedLayouts.ToPacked(vector),
                static (w, x, y, n) => VectorCodesMatVec.MatVec(w, x, y, n), PackedReference.DecodeRow),
            GgmlBlockTensor blocks => new PackedMatrixProduct<PackedGgmlBlocks>(blocks, PackedLayouts.ToPacked(blocks),
                static (w, x, y, n) => GgmlMatVec.MatVec(w, x, y, n), PackedReference.DecodeRow),
            KQuantTensor kquant => new PackedMatrixProduct<PackedKQuantBlocks>(kquant, kquant.ToPacked(),
                static (w, x, y, n) => KQuantMatVec.MatVec(w, x, y, n), PackedReference.DecodeRow),
            _ => MatrixVectorProducts.Default.Create(tensor),
        };
    }

    /// <inheritdoc />
    public IMatrixVectorProduct Create(TensorData matrix) => MatrixVectorProducts.Default.Create(matrix);
}

/// <summary>How the group-scalar product looks up its tables of x's subset sums.</summary>
internal enum GroupScalarLookup
{
    /// <summary>Float tables: exact to float rounding (<see cref="BitPlaneMatVec"/>).</summary>
    FloatTables,

    /// <summary>Tables rounded to 8 bits per group (<see cref="NibbleTableMatVec"/>): about a third of the instructions.</summary>
    Int8Tables,
}
