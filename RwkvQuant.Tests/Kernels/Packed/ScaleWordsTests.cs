using RwkvQuant.Kernels.Packed;

namespace RwkvQuant.Tests.Kernels.Packed;

public class ScaleWordsTests
{
    [Fact]
    public void Every_half_decodes_all_at_once_as_one_at_a_time_and_as_dotnet_converts_it()
    {
        // All 65,536 patterns (normals, subnormals, ±0, ±∞, NaNs with payloads), plus 5 to leave a scalar tail.
        var words = new ushort[65536 + 5];
        for (int i = 0; i < words.Length; i++)
            words[i] = (ushort)(i * 40503 % 65536);
        var all = new float[words.Length];
        ScaleWords.DecodeAll(words, all, ScaleFormat.F16);
        for (int i = 0; i < words.Length; i++)
        {
            float dotnet = (float)BitConverter.UInt16BitsToHalf(words[i]);
            uint one = BitConverter.SingleToUInt32Bits(ScaleWords.HalfToSingle(words[i]));
            // .NET quiets signalling NaNs; ours keep the payload as it is. Every other value is equal bit for bit.
            if (float.IsNaN(dotnet))
                Assert.True(float.IsNaN(BitConverter.UInt32BitsToSingle(one)), $"one at a time: 0x{words[i]:X4}");
            else
                Assert.True(BitConverter.SingleToUInt32Bits(dotnet) == one, $"one at a time: 0x{words[i]:X4}");
            Assert.True(one == BitConverter.SingleToUInt32Bits(all[i]), $"all at once: 0x{words[i]:X4}");
        }
    }

    [Avx512Fact]
    public unsafe void Every_half_bfloat16_and_float32_decodes_sixteen_at_a_time_in_a_register()
    {
        var words = new ushort[65536];
        for (int i = 0; i < words.Length; i++)
            words[i] = (ushort)i;
        fixed (ushort* p = words)
        {
            for (int i = 0; i < words.Length; i += 16)
            {
                System.Runtime.Intrinsics.Vector512<float> halves = ScaleWords.Decode16(p + i, ScaleFormat.F16);
                System.Runtime.Intrinsics.Vector512<float> brains = ScaleWords.Decode16(p + i, ScaleFormat.BF16);
                for (int lane = 0; lane < 16; lane++)
                {
                    Assert.Equal(BitConverter.SingleToUInt32Bits(ScaleWords.HalfToSingle(words[i + lane])), BitConverter.SingleToUInt32Bits(halves[lane]));
                    Assert.Equal((uint)words[i + lane] << 16, BitConverter.SingleToUInt32Bits(brains[lane]));
                }
            }
            // F32: 16 values are 32 words; the float whose low word is at i and high word at i + 1.
            for (int i = 0; i + 32 <= words.Length; i += 4096)
            {
                System.Runtime.Intrinsics.Vector512<float> floats = ScaleWords.Decode16(p + i, ScaleFormat.F32);
                for (int lane = 0; lane < 16; lane++)
                    Assert.Equal(words[i + 2 * lane] | (uint)words[i + 2 * lane + 1] << 16, BitConverter.SingleToUInt32Bits(floats[lane]));
            }
        }
    }

    [TierFact(RwkvQuant.Kernels.MatVec.SimdTier.Avx2)]
    public unsafe void Every_half_bfloat16_and_float32_decodes_eight_at_a_time_in_a_register()
    {
        var words = new ushort[65536];
        for (int i = 0; i < words.Length; i++)
            words[i] = (ushort)i;
        fixed (ushort* p = words)
        {
            for (int i = 0; i < words.Length; i += 8)
            {
                System.Runtime.Intrinsics.Vector256<float> halves = ScaleWords.Decode8(p + i, ScaleFormat.F16);
                System.Runtime.Intrinsics.Vector256<float> brains = ScaleWords.Decode8(p + i, ScaleFormat.BF16);
                for (int lane = 0; lane < 8; lane++)
                {
                    Assert.Equal(BitConverter.SingleToUInt32Bits(ScaleWords.HalfToSingle(words[i + lane])), BitConverter.SingleToUInt32Bits(halves[lane]));
                    Assert.Equal((uint)words[i + lane] << 16, BitConverter.SingleToUInt32Bits(brains[lane]));
                }
            }
            for (int i = 0; i + 16 <= words.Length; i += 4096)
            {
                System.Runtime.Intrinsics.Vector256<float> floats = ScaleWords.Decode8(p + i, ScaleFormat.F32);
                for (int lane = 0; lane < 8; lane++)
                    Assert.Equal(words[i + 2 * lane] | (uint)words[i + 2 * lane + 1] << 16, BitConverter.SingleToUInt32Bits(floats[lane]));
            }
        }
    }

    [TierFact(RwkvQuant.Kernels.MatVec.SimdTier.Vector128)]
    public unsafe void Every_half_bfloat16_and_float32_decodes_four_at_a_time_in_a_register()
    {
        var words = new ushort[65536];
        for (int i = 0; i < words.Length; i++)
            words[i] = (ushort)i;
        fixed (ushort* p = words)
        {
            for (int i = 0; i < words.Length; i += 4)
            {
                System.Runtime.Intrinsics.Vector128<float> halves = ScaleWords.Decode4(p + i, ScaleFormat.F16);
                System.Runtime.Intrinsics.Vector128<float> brains = ScaleWords.Decode4(p + i, ScaleFormat.BF16);
                for (int lane = 0; lane < 4; lane++)
                {
                    Assert.Equal(BitConverter.SingleToUInt32Bits(ScaleWords.HalfToSingle(words[i + lane])), BitConverter.SingleToUInt32Bits(halves[lane]));
                    Assert.Equal((uint)words[i + lane] << 16, BitConverter.SingleToUInt32Bits(brains[lane]));
                }
            }
            for (int i = 0; i + 8 <= words.Length; i += 4096)
            {
                System.Runtime.Intrinsics.Vector128<float> floats = ScaleWords.Decode4(p + i, ScaleFormat.F32);
                for (int lane = 0; lane < 4; lane++)
                    Assert.Equal(words[i + 2 * lane] | (uint)words[i + 2 * lane + 1] << 16, BitConverter.SingleToUInt32Bits(floats[lane]));
            }
        }
    }

    [Fact]
    public void Bfloat16_and_float32_words_decode_all_at_once()
    {
        ushort[] words = [0x3F80, 0xC000, 0x7F80, 0x0001, 0x0000, 0x8000];
        var values = new float[6];
        ScaleWords.DecodeAll(words, values, ScaleFormat.BF16);
        Assert.Equal([1f, -2f, float.PositiveInfinity, BitConverter.UInt32BitsToSingle(0x0001_0000), 0f, -0f], values);
        float[] floats = [1.5f, -3.25e-7f, float.NaN];
        var floatWords = new ushort[6];
        Buffer.BlockCopy(floats, 0, floatWords, 0, 12);
        var decoded = new float[3];
        ScaleWords.DecodeAll(floatWords, decoded, ScaleFormat.F32);
        Assert.Equal(floats, decoded);
    }
}
