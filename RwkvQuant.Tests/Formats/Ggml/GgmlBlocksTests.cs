using System.Buffers.Binary;
using RwkvQuant.Formats.Ggml;

namespace RwkvQuant.Tests.Formats.Ggml;

public class GgmlBlocksTests
{
    /// <summary>Round to nearest: a value lands within half a step of its code (Q8_0, Q4_1, Q5_1 and unclamped Q4_0/Q5_0).</summary>
    private const double HalfStep = 0.5;

    /// <summary>
    /// Q4_0/Q5_0 put the value of largest magnitude at code 0 (−8·d or −16·d); a value of the opposite sign and the
    /// same magnitude would need code 16 (32) and is clamped to 15 (31): one whole step off.
    /// </summary>
    private const double ClampedStep = 1.0;

    /// <summary>
    /// The scale d and minimum m are stored as fp16, whose rounding error is at most 2^-11 relative; the error of d
    /// is multiplied by the code (up to 127 for Q8_0). 2^-10 leaves room for float32 rounding of 1/d.
    /// </summary>
    private const double Fp16RelativeError = 1.0 / 1024;

    /// <summary>Absolute slack for float32 arithmetic on the tiny models' values (all well below 100).</summary>
    private const double FloatSlack = 1e-6;

    public static TheoryData<string> QuantizedFiles => new() { "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0" };

    [FixtureTheory]
    [MemberData(nameof(QuantizedFiles))]
    public void Dequantized_rwkvcpp_tensors_lie_within_one_quantization_step_of_the_fp32_originals(string format)
    {
        var (_, originals) = GgmlReader.Read(Fixtures.Path("rwkvcpp", "tiny-rwkv-6v0-1m-FP32.bin"));
        var (header, quantized) = GgmlReader.Read(Fixtures.Path("rwkvcpp-quantized", $"tiny-rwkv-6v0-1m-FP32-to-{format}.bin"));
        GgmlType type = Enum.Parse<GgmlType>(format);
        Assert.Equal(type, header.DataType);
        Assert.Equal(originals.Select(t => t.Name), quantized.Select(t => t.Name));

        int quantizedCount = 0;
        foreach (GgmlTensor tensor in quantized)
        {
            GgmlTensor original = originals.Single(t => t.Name == tensor.Name);
            Assert.Equal(original.Shape, tensor.Shape);
            if (tensor.Type == GgmlType.F32)
            {
                Assert.Equal(original.Data, tensor.Data);
                continue;
            }
            Assert.Equal(type, tensor.Type);
            quantizedCount++;
            float[] expected = original.ToTensorData().ToFloatArray();
            float[] actual = tensor.ToTensorData().ToFloatArray();
            int blockBytes = type.BytesPerBlock();
            for (int b = 0; b < actual.Length / 32; b++)
            {
                ReadOnlySpan<byte> block = tensor.Data.AsSpan(b * blockBytes, blockBytes);
                double d = Math.Abs(ReadHalf(block, 0));
                bool hasMinimum = type is GgmlType.Q4_1 or GgmlType.Q5_1;
                double m = hasMinimum ? Math.Abs(ReadHalf(block, 2)) : 0;
                int maxCode = type switch { GgmlType.Q4_0 or GgmlType.Q4_1 => 15, GgmlType.Q5_0 or GgmlType.Q5_1 => 31, _ => 127 };
                bool clamps = type is GgmlType.Q4_0 or GgmlType.Q5_0;
                for (int j = 0; j < 32; j++)
                {
                    int i = b * 32 + j;
                    // A clamped value can only be one at the top code; everything else is rounded to nearest.
                    double step = clamps && actual[i] == (maxCode - (maxCode + 1) / 2) * ReadHalf(block, 0) ? ClampedStep : HalfStep;
                    double bound = d * (step + maxCode * Fp16RelativeError) + m * Fp16RelativeError + FloatSlack;
                    double error = Math.Abs(expected[i] - actual[i]);
                    Assert.True(error <= bound, $"{format} {tensor.Name}[{i}]: |{expected[i]} − {actual[i]}| = {error} > {bound} (d {d}).");
                }
            }
        }
        Assert.True(quantizedCount > 10, $"only {quantizedCount} tensors are quantized in {format}.");
    }

    [Fact]
    public void Q4_0_golden_block()
    {
        // d = 0.5 (fp16 0x3800); qs[j] = j | (15 − j) << 4 → value j = (j − 8)·0.5, value j + 16 = (7 − j)·0.5
        var block = new byte[18];
        block[0] = 0x00; block[1] = 0x38;
        for (int j = 0; j < 16; j++)
            block[2 + j] = (byte)(j | (15 - j) << 4);
        float[] y = Dequantize(GgmlType.Q4_0, block);
        Assert.Equal(-4f, y[0]);
        Assert.Equal(3.5f, y[15]);
        Assert.Equal(3.5f, y[16]);
        Assert.Equal(-4f, y[31]);
        for (int j = 0; j < 16; j++)
        {
            Assert.Equal((j - 8) * 0.5f, y[j]);
            Assert.Equal((7 - j) * 0.5f, y[j + 16]);
        }
    }

    [Fact]
    public void Q4_1_golden_block()
    {
        // d = 0.25 (0x3400), m = −1 (0xBC00); qs[j] = (j) | (j ^ 0xF) << 4
        var block = new byte[20];
        block[0] = 0x00; block[1] = 0x34;
        block[2] = 0x00; block[3] = 0xBC;
        for (int j = 0; j < 16; j++)
            block[4 + j] = (byte)(j | (j ^ 0xF) << 4);
        float[] y = Dequantize(GgmlType.Q4_1, block);
        Assert.Equal(-1f, y[0]);
        Assert.Equal(2.75f, y[15]);
        Assert.Equal(2.75f, y[16]);
        Assert.Equal(-1f, y[31]);
        for (int j = 0; j < 16; j++)
        {
            Assert.Equal(j * 0.25f - 1f, y[j]);
            Assert.Equal((15 - j) * 0.25f - 1f, y[j + 16]);
        }
    }

    [Fact]
    public void Q5_0_golden_block()
    {
        // d = 1 (0x3C00); qh = 0xF0F0_00FF (bit i = fifth bit of value i); low nibbles all 3, high nibbles all 12.
        var block = new byte[22];
        block[0] = 0x00; block[1] = 0x3C;
        BinaryPrimitives.WriteUInt32LittleEndian(block.AsSpan(2), 0xF0F0_00FFu);
        for (int j = 0; j < 16; j++)
            block[6 + j] = 0xC3;
        float[] y = Dequantize(GgmlType.Q5_0, block);
        // values 0..7 have the fifth bit: 3 + 16 − 16 = 3; values 8..15 do not: 3 − 16 = −13
        // values 16..19 no: 12 − 16 = −4; 20..23 yes: 12; 24..27 no: −4; 28..31 yes: 12
        float[] expected =
        [
            3, 3, 3, 3, 3, 3, 3, 3, -13, -13, -13, -13, -13, -13, -13, -13,
            -4, -4, -4, -4, 12, 12, 12, 12, -4, -4, -4, -4, 12, 12, 12, 12,
        ];
        Assert.Equal(expected, y);
    }

    [Fact]
    public void Q5_1_golden_block()
    {
        // d = 0.5 (0x3800), m = 2 (0x4000); qh = 0x8000_0001: value 0 and value 31 get the fifth bit.
        // qs[j] = j | j << 4, so value j and value j + 16 both have low bits j.
        var block = new byte[24];
        block[0] = 0x00; block[1] = 0x38;
        block[2] = 0x00; block[3] = 0x40;
        BinaryPrimitives.WriteUInt32LittleEndian(block.AsSpan(4), 0x8000_0001u);
        for (int j = 0; j < 16; j++)
            block[8 + j] = (byte)(j | j << 4);
        float[] y = Dequantize(GgmlType.Q5_1, block);
        Assert.Equal(16 * 0.5f + 2f, y[0]);   // code 16
        Assert.Equal(2f, y[16]);              // code 0
        Assert.Equal(31 * 0.5f + 2f, y[31]);  // code 31
        for (int j = 1; j < 16; j++)
        {
            Assert.Equal(j * 0.5f + 2f, y[j]);
            if (j < 15)
                Assert.Equal(j * 0.5f + 2f, y[j + 16]);
        }
    }

    [Fact]
    public void Q8_0_golden_block()
    {
        // d = −2 (0xC000); code j = j·8 − 128 (−128 … 120), so value j = (j·8 − 128)·(−2)
        var block = new byte[34];
        block[0] = 0x00; block[1] = 0xC0;
        for (int j = 0; j < 32; j++)
            block[2 + j] = unchecked((byte)(sbyte)(j * 8 - 128));
        float[] y = Dequantize(GgmlType.Q8_0, block);
        Assert.Equal(256f, y[0]);
        Assert.Equal(-240f, y[31]); // code 120·(−2)
        for (int j = 0; j < 32; j++)
            Assert.Equal((j * 8 - 128) * -2f, y[j]);
    }

    [Fact]
    public void Two_blocks_are_dequantized_in_order()
    {
        var data = new byte[68];
        data[0] = 0x00; data[1] = 0x3C; // d = 1, codes 0
        data[34] = 0x00; data[35] = 0x40; // d = 2
        data[36] = 5;
        float[] y = Dequantize(GgmlType.Q8_0, data);
        Assert.Equal(64, y.Length);
        Assert.Equal(0f, y[0]);
        Assert.Equal(10f, y[32]);
        Assert.Equal(0f, y[33]);
    }

    [Theory]
    [InlineData(GgmlType.Q4_0, 17, 32)]
    [InlineData(GgmlType.Q4_1, 21, 32)]
    [InlineData(GgmlType.Q5_0, 22, 64)]
    [InlineData(GgmlType.Q5_1, 24, 31)]
    [InlineData(GgmlType.Q8_0, 35, 32)]
    [InlineData(GgmlType.F32, 7, 2)]
    [InlineData(GgmlType.F16, 2, 2)]
    public void Wrong_lengths_are_argument_errors(GgmlType type, int bytes, int values)
    {
        Assert.Throws<ArgumentException>(() => GgmlBlocks.Dequantize(type, new byte[bytes], new float[values]));
    }

    private static float[] Dequantize(GgmlType type, byte[] data)
    {
        var values = new float[data.Length / type.BytesPerBlock() * 32];
        GgmlBlocks.Dequantize(type, data, values);
        return values;
    }

    private static float ReadHalf(ReadOnlySpan<byte> bytes, int offset) =>
        (float)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(bytes[offset..]));
}
