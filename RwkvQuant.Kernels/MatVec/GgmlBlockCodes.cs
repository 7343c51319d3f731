using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using RwkvQuant.Kernels.Packed;

namespace RwkvQuant.Kernels.MatVec;

/// <summary>AVX-512 decoding of the 32 codes of one ggml block into two 16-lane integer vectors (values 0–15 and 16–31).</summary>
internal static unsafe class GgmlBlockCodes
{
    /// <summary>
    /// The raw codes q of the block at <paramref name="block"/>: the signed int8 for Q8_0, else the nibble (Q4) or the nibble
    /// with its fifth bit from qh (Q5), before any offset or scale.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Decode(GgmlBlockType type, byte* block, out Vector512<int> low, out Vector512<int> high)
    {
        if (type == GgmlBlockType.Q8_0)
        {
            low = Avx512F.ConvertToVector512Int32(Vector128.Load((sbyte*)block + 2));
            high = Avx512F.ConvertToVector512Int32(Vector128.Load((sbyte*)block + 18));
            return;
        }
        int qsOffset = type switch { GgmlBlockType.Q4_0 => 2, GgmlBlockType.Q4_1 => 4, GgmlBlockType.Q5_0 => 6, _ => 8 };
        Vector128<byte> qs = Vector128.Load(block + qsOffset);
        low = Avx512F.ConvertToVector512Int32(qs & Vector128.Create((byte)0x0F));
        high = Avx512F.ConvertToVector512Int32(Vector128.ShiftRightLogical(qs, 4));
        if (type is GgmlBlockType.Q5_0 or GgmlBlockType.Q5_1)
        {
            Vector512<uint> qh = Vector512.Create(*(uint*)(block + qsOffset - 4));
            Vector512<uint> shifts = Vector512.Create(0u, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
            Vector512<uint> one = Vector512<uint>.One;
            low |= Avx512F.ShiftLeftLogical(Avx512F.ShiftRightLogicalVariable(qh, shifts) & one, 4).AsInt32();
            high |= Avx512F.ShiftLeftLogical(Avx512F.ShiftRightLogicalVariable(qh, shifts + Vector512.Create(16u)) & one, 4).AsInt32();
        }
    }
}
