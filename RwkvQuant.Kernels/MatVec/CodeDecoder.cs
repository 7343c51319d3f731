using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace RwkvQuant.Kernels.MatVec;

/// <summary>
/// AVX-512 decoding of 16 consecutive b-bit codes (2b bytes, starting on a byte) of the row-aligned stream into 16
/// float lanes: broadcast the 16 bytes to the four 128-bit lanes, byte-shuffle so that 32-bit lane j holds the bytes
/// of code j (⌊b·j/8⌋ and the next when the code crosses a byte), shift each lane right by b·j mod 8, mask, convert.
/// Five instructions per 16 codes for every b in 1–8.
/// </summary>
internal readonly struct CodeDecoder
{
    private readonly Vector512<byte> _control;
    private readonly Vector512<uint> _shifts;
    private readonly Vector512<uint> _mask;

    /// <summary>The decoder for <paramref name="bits"/>-bit codes, lane j taking code ⌊j / <paramref name="repeat"/>⌋
    /// (repeat = d duplicates each vector code over its d columns), the first code starting <paramref name="bitOffset"/>
    /// bits into the first byte.</summary>
    public CodeDecoder(int bits, int repeat = 1, int bitOffset = 0)
    {
        var control = new byte[64];
        var shifts = new uint[16];
        for (int lane = 0; lane < 16; lane++)
        {
            int bit = bitOffset + lane / repeat * bits;
            int first = bit >> 3;
            shifts[lane] = (uint)(bit & 7);
            for (int k = 0; k < 4; k++)
            {
                // Only the bytes the code touches; the rest read as zero (pshufb's high bit).
                bool needed = k * 8 < (bit & 7) + bits;
                control[4 * lane + k] = needed ? (byte)(first + k) : (byte)0x80;
            }
        }
        _control = Vector512.Create(control);
        _shifts = Vector512.Create(shifts);
        _mask = Vector512.Create((uint)((1 << bits) - 1));
    }

    /// <summary>True when the hardware runs <see cref="Decode"/>.</summary>
    public static bool IsSupported => Avx512BW.IsSupported;

    /// <summary>The 16 codes starting at <paramref name="source"/> (16 bytes are read) as integers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public unsafe Vector512<int> DecodeInt(byte* source)
    {
        Vector512<byte> bytes = Avx512F.BroadcastVector128ToVector512((uint*)source).AsByte();
        Vector512<uint> words = Avx512BW.Shuffle(bytes, _control).AsUInt32();
        return (Avx512F.ShiftRightLogicalVariable(words, _shifts) & _mask).AsInt32();
    }

    /// <summary>The 16 codes starting at <paramref name="source"/> (16 bytes are read) as floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public unsafe Vector512<float> Decode(byte* source) => Avx512F.ConvertToVector512Single(DecodeInt(source));
}
