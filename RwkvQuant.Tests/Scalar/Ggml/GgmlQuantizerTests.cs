using System.Runtime.InteropServices;
using RwkvQuant.Formats;
using RwkvQuant.Formats.Ggml;
using RwkvQuant.Quantization;
using RwkvQuant.Scalar.Ggml;

namespace RwkvQuant.Tests.Scalar.Ggml;

public class GgmlQuantizerTests
{
    [Theory]
    [InlineData(GgmlType.Q4_0, 18, 4.5)]
    [InlineData(GgmlType.Q4_1, 20, 5.0)]
    [InlineData(GgmlType.Q5_0, 22, 5.5)]
    [InlineData(GgmlType.Q5_1, 24, 6.0)]
    [InlineData(GgmlType.Q8_0, 34, 8.5)]
    public void Stored_bits_are_the_block_bytes_exactly(GgmlType type, int bytesPerBlock, double bitsPerWeight)
    {
        TensorData weight = RandomWeight("blocks.0.att.key.weight", 7, 96, seed: 3);
        GgmlBlockTensor quantized = new GgmlQuantizer(new GgmlQuantizerOptions(type)).QuantizeTensor(weight);

        Assert.Equal(7L * 3 * bytesPerBlock * 8, quantized.StoredBits);
        Assert.Equal(bitsPerWeight, quantized.BitsPerWeight);
        Assert.Equal(7 * 3 * bytesPerBlock, quantized.Blocks.Length);
        Assert.Equal($"ggml {type.ToString().ToLowerInvariant()}", quantized.Scheme);
        Assert.Equal((7, 96, type), (quantized.Rows, quantized.Columns, quantized.Type));
    }

    [Theory]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.Q5_1)]
    [InlineData(GgmlType.Q8_0)]
    public void Blocks_run_along_rows_and_dequantize_through_the_reader_code(GgmlType type)
    {
        TensorData weight = RandomWeight("w", 5, 64, seed: 9);
        var quantizer = new GgmlQuantizer(new GgmlQuantizerOptions(type));
        var quantized = (GgmlBlockTensor)((IScalarQuantizer)quantizer).Quantize(weight);

        var expected = new byte[type.StorageSize(320)];
        GgmlBlockQuantizer.Quantize(type, weight.ToFloatArray(), expected);
        Assert.Equal(expected, quantized.Blocks.ToArray());
        var values = new float[320];
        GgmlBlocks.Dequantize(type, expected, values);
        Assert.Equal(values, quantized.Dequantize());
        TensorData tensor = quantized.ToTensorData();
        Assert.Equal([5L, 64L], tensor.Shape);
        Assert.Equal("w", tensor.Name);
    }

    [Fact]
    public void Fp16_weights_are_quantized_from_their_float_values()
    {
        float[] values = RandomWeight("w", 2, 32, seed: 1).ToFloatArray();
        Half[] halves = values.Select(v => (Half)v).ToArray();
        var f16 = new TensorData("w", TensorDataType.F16, [2, 32], MemoryMarshal.AsBytes(halves.AsSpan()).ToArray());
        var f32 = TensorData.FromFloats("w", [2, 32], halves.Select(h => (float)h).ToArray());
        var quantizer = new GgmlQuantizer(new GgmlQuantizerOptions(GgmlType.Q4_1));
        Assert.Equal(quantizer.QuantizeTensor(f32).Blocks.ToArray(), quantizer.QuantizeTensor(f16).Blocks.ToArray());
    }

    [Fact]
    public void Ignores_the_hessian_and_says_so()
    {
        var quantizer = new GgmlQuantizer(new GgmlQuantizerOptions(GgmlType.Q5_0));
        Assert.False(quantizer.RequiresHessian);
        Assert.Equal("ggml q5_0", quantizer.Name);
    }

    [Theory]
    [InlineData(40)]
    [InlineData(16)]
    [InlineData(100)]
    public void Columns_not_a_multiple_of_32_are_rejected_naming_the_tensor(int columns)
    {
        var quantizer = new GgmlQuantizer(new GgmlQuantizerOptions(GgmlType.Q8_0));
        var error = Assert.Throws<ArgumentException>(() => quantizer.Quantize(RandomWeight("blocks.2.ffn.key.weight", 3, columns, seed: 2)));
        Assert.Contains("blocks.2.ffn.key.weight", error.Message, StringComparison.Ordinal);
        Assert.Contains($"{columns} columns", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    [InlineData(float.NegativeInfinity)]
    public void Non_finite_weights_are_rejected_naming_the_tensor_and_position(float bad)
    {
        float[] values = RandomWeight("x", 2, 64, seed: 4).ToFloatArray();
        values[64 + 5] = bad;
        var quantizer = new GgmlQuantizer(new GgmlQuantizerOptions(GgmlType.Q4_0));
        var error = Assert.Throws<ArgumentException>(() => quantizer.Quantize(TensorData.FromFloats("blocks.1.att.value.weight", [2, 64], values)));
        Assert.Contains("blocks.1.att.value.weight", error.Message, StringComparison.Ordinal);
        Assert.Contains("[1, 5]", error.Message, StringComparison.Ordinal);
    }

    /// <summary>Weights beyond FP16's range would give infinite block scales (ggml stores them); we refuse them instead,
    /// for the ggml formats and the k-quants alike.</summary>
    [Theory]
    [InlineData(70000f)]
    [InlineData(-1e9f)]
    public void Weights_beyond_the_range_of_FP16_scales_are_refused_naming_the_tensor(float huge)
    {
        float[] values = RandomWeight("x", 2, 256, seed: 4).ToFloatArray();
        values[256 + 7] = huge;
        TensorData weight = TensorData.FromFloats("blocks.1.att.value.weight", [2, 256], values);
        foreach (IScalarQuantizer quantizer in new IScalarQuantizer[]
                 {
                     new GgmlQuantizer(new GgmlQuantizerOptions(GgmlType.Q4_0)),
                     new RwkvQuant.Scalar.KQuants.KQuantizer(new RwkvQuant.Scalar.KQuants.KQuantizerOptions(RwkvQuant.Kernels.Packed.KQuantType.IQ3_S)),
                 })
        {
            var error = Assert.Throws<ArgumentException>(() => quantizer.Quantize(weight));
            Assert.Contains("blocks.1.att.value.weight", error.Message, StringComparison.Ordinal);
            Assert.Contains("[1, 7]", error.Message, StringComparison.Ordinal);
            Assert.Contains("FP16", error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Only_2d_weights_are_accepted()
    {
        var quantizer = new GgmlQuantizer(new GgmlQuantizerOptions(GgmlType.Q8_0));
        var error = Assert.Throws<ArgumentException>(() => quantizer.Quantize(TensorData.FromFloats("blocks.0.ln1.weight", [64], new float[64])));
        Assert.Contains("blocks.0.ln1.weight", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(GgmlType.F32)]
    [InlineData(GgmlType.F16)]
    [InlineData((GgmlType)5)]
    public void Options_accept_only_block_formats(GgmlType type)
    {
        Assert.Throws<ArgumentException>(() => new GgmlQuantizerOptions(type));
    }

    private static TensorData RandomWeight(string name, int rows, int columns, int seed)
    {
        var random = new Random(seed);
        float[] values = Enumerable.Range(0, rows * columns).Select(_ => (float)(random.NextDouble() * 2 - 1) * 0.1f).ToArray();
        return TensorData.FromFloats(name, [rows, columns], values);
    }
}
