using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using RwkvQuant.Kernels.Packed;

namespace RwkvQuant.Kernels.MatVec;

/// <summary>
/// AVX-512 lookup of the 16 weights of one 16-column segment of a VQ row: decode the 16/d codes (each repeated over its d
/// lanes), index = code·d + lane mod d, and permute the group's codebook held in two registers (at most
/// <see cref="TableLength"/> values). A segment starts at bit s·16·b/d: on a byte, or half-way for d = 4 and odd b.
/// </summary>
internal readonly struct CentroidLookup
{
    /// <summary>Values a register table holds (two zmm registers).</summary>
    public const int TableLength = 32;

    private readonly CodeDecoder _aligned;
    private readonly CodeDecoder _shifted;
    private readonly Vector512<int> _coordinate;
    private readonly int _dimension;
    private readonly int _segmentBits;

    public CentroidLookup(int dimension, int bits)
    {
        _aligned = new CodeDecoder(bits, dimension, 0);
        _shifted = new CodeDecoder(bits, dimension, 4);
        _coordinate = Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15) & Vector512.Create(dimension - 1);
        _dimension = dimension;
        _segmentBits = 16 / dimension * bits;
    }

    /// <summary>True when <paramref name="w"/> fits the lookup: d ∈ {1, 2, 4}, L ≤ 32, group width a multiple of 16.</summary>
    public static bool Fits(PackedVectorCodes w) => Fits(w.Dimension, w.Bits, w.GroupColumns);

    /// <summary>As <see cref="Fits(PackedVectorCodes)"/>, from the layout's parameters (before any packing).</summary>
    public static bool Fits(int dimension, int bits, int groupColumns) =>
        CodeDecoder.IsSupported && VectorCodesMatVec.Takes(SimdTier.Avx512, dimension, bits, groupColumns);

    /// <summary>The weights of segment <paramref name="segment"/> of the row at <paramref name="codes"/>, from the table at <paramref name="table"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public unsafe Vector512<float> Weights(byte* codes, int segment, float* table)
    {
        long bit = (long)segment * _segmentBits;
        byte* p = codes + (bit >> 3);
        Vector512<int> code = (bit & 7) == 0 ? _aligned.DecodeInt(p) : _shifted.DecodeInt(p);
        Vector512<int> index = code * Vector512.Create(_dimension) + _coordinate;
        return Avx512F.PermuteVar16x32x2(Avx512F.LoadVector512(table), index, Avx512F.LoadVector512(table + 16));
    }
}
