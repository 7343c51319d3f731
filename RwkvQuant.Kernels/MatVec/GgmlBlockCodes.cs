using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using RwkvQuant.Kernels.Packed;

namespace RwkvQuant.Kernels.MatVec;

/// <summary>Decoding of the 32 codes of one ggml block in registers: two 16-lane integer vectors (AVX-512) or four 8-lane ones (AVX2).</summary>
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

    /// <summary>As the AVX-512 <see cref="Decode(GgmlBlockType, byte*, out Vector512{int}, out Vector512{int})"/>, codes 0–7, 8–15, 16–23 and 24–31 in four AVX2 vectors.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Decode(GgmlBlockType type, byte* block, out Vector256<int> codes0, out Vector256<int> codes1, out Vector256<int> codes2, out Vector256<int> codes3)
    {
        if (type == GgmlBlockType.Q8_0)
        {
            codes0 = Avx2.ConvertToVector256Int32((sbyte*)block + 2);
            codes1 = Avx2.ConvertToVector256Int32((sbyte*)block + 10);
            codes2 = Avx2.ConvertToVector256Int32((sbyte*)block + 18);
            codes3 = Avx2.ConvertToVector256Int32((sbyte*)block + 26);
            return;
        }
        int qsOffset = type switch { GgmlBlockType.Q4_0 => 2, GgmlBlockType.Q4_1 => 4, GgmlBlockType.Q5_0 => 6, _ => 8 };
        // Codes 0–15 are the low nibbles of the 16 bytes, codes 16–31 the high ones.
        Vector128<byte> qs = Vector128.Load(block + qsOffset);
        Vector128<byte> low = qs & Vector128.Create((byte)0x0F), high = Vector128.ShiftRightLogical(qs, 4);
        codes0 = Avx2.ConvertToVector256Int32(low);
        codes1 = Avx2.ConvertToVector256Int32(Sse2.ShiftRightLogical128BitLane(low, 8));
        codes2 = Avx2.ConvertToVector256Int32(high);
        codes3 = Avx2.ConvertToVector256Int32(Sse2.ShiftRightLogical128BitLane(high, 8));
        if (type is GgmlBlockType.Q5_0 or GgmlBlockType.Q5_1)
        {
            Vector256<uint> qh = Vector256.Create(*(uint*)(block + qsOffset - 4));
            Vector256<uint> shifts = Vector256.Create(0u, 1, 2, 3, 4, 5, 6, 7), eight = Vector256.Create(8u), one = Vector256<uint>.One;
            codes0 |= Avx2.ShiftLeftLogical(Avx2.ShiftRightLogicalVariable(qh, shifts) & one, 4).AsInt32();
            codes1 |= Avx2.ShiftLeftLogical(Avx2.ShiftRightLogicalVariable(qh, shifts + eight) & one, 4).AsInt32();
            codes2 |= Avx2.ShiftLeftLogical(Avx2.ShiftRightLogicalVariable(qh, shifts + eight + eight) & one, 4).AsInt32();
            codes3 |= Avx2.ShiftLeftLogical(Avx2.ShiftRightLogicalVariable(qh, shifts + eight + eight + eight) & one, 4).AsInt32();
        }
    }
}
