using RwkvQuant.Formats;
using RwkvQuant.Formats.Ggml;
using RwkvQuant.Kernels.Packed;
using RwkvQuant.Quantization;
using RwkvQuant.Scalar.Ggml;
using RwkvQuant.Scalar.KQuants;

namespace RwkvQuant.Tests.Scalar.KQuants;

public class KQuantizerTests
{
    /// <summary>
    /// Round-trip budget per format: the RMS error over the RMS of Gaussian weights (measured at most 0.300, 0.155, 0.073,
    /// 0.077, 0.077, 0.168 at 2.625, 3.4375, 4.5, 4.25, 4.5, 3.4375 bits, with or without an identity importance; each
    /// budget 1.25× that, so a broken search or layout fails).
    /// </summary>
    private static readonly Dictionary<KQuantType, double> RelativeRmsBudget = new()
    {
        [KQuantType.Q2_K] = 0.375,
        [KQuantType.Q3_K] = 0.195,
        [KQuantType.Q4_K] = 0.092,
        [KQuantType.IQ4_XS] = 0.097,
        [KQuantType.IQ4_NL] = 0.097,
        [KQuantType.IQ3_S] = 0.21,
    };

    private static TensorData Gaussian(int rows, int columns, int seed)
    {
        var random = new Random(seed);
        var values = new float[rows * columns];
        for (int i = 0; i < values.Length; i++)
            values[i] = (float)(0.02 * Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
        return TensorData.FromFloats("blocks.0.w", [rows, columns], values);
    }

    /// <summary>A Hessian whose diagonal (the importance) varies over three orders of magnitude between columns.</summary>
    private static Hessian SkewedDiagonal(int columns, int seed)
    {
        var random = new Random(seed);
        var values = new double[columns * columns];
        for (int j = 0; j < columns; j++)
            values[j * columns + j] = 2 * Math.Pow(10, 3 * random.NextDouble());
        return new Hessian(columns, values, sampleCount: 1);
    }

    [Theory]
    [InlineData(KQuantType.Q2_K, false)]
    [InlineData(KQuantType.Q2_K, true)]
    [InlineData(KQuantType.Q3_K, false)]
    [InlineData(KQuantType.Q3_K, true)]
    [InlineData(KQuantType.Q4_K, false)]
    [InlineData(KQuantType.Q4_K, true)]
    [InlineData(KQuantType.IQ4_XS, false)]
    [InlineData(KQuantType.IQ4_XS, true)]
    [InlineData(KQuantType.IQ4_NL, false)]
    [InlineData(KQuantType.IQ3_S, false)]
    [InlineData(KQuantType.IQ3_S, true)]
    public void Round_trip_error_stays_within_the_formats_budget(KQuantType type, bool useImportance)
    {
        TensorData weight = Gaussian(9, 768, seed: 3);
        var quantizer = new KQuantizer(new KQuantizerOptions(type, useImportance));
        var tensor = Assert.IsType<KQuantTensor>(quantizer.Quantize(weight, Hessian.Identity(768)));
        Assert.Equal(type, tensor.Type);
        Assert.Equal(type.StorageSize(9 * 768) * 8, tensor.StoredBits);
        float[] original = weight.ToFloatArray(), restored = tensor.Dequantize();
        double error = 0, energy = 0;
        for (int i = 0; i < original.Length; i++)
        {
            error += (original[i] - restored[i]) * (double)(original[i] - restored[i]);
            energy += original[i] * (double)original[i];
        }
        double relative = Math.Sqrt(error / energy);
        Assert.True(relative < RelativeRmsBudget[type], $"{type}: relative RMS error {relative:F4}, budget {RelativeRmsBudget[type]}.");
    }

    [Theory]
    [InlineData(KQuantType.Q2_K)]
    [InlineData(KQuantType.Q3_K)]
    [InlineData(KQuantType.Q4_K)]
    [InlineData(KQuantType.IQ4_XS)]
    [InlineData(KQuantType.IQ3_S)]
    public void The_importance_matrix_lowers_the_importance_weighted_error(KQuantType type)
    {
        // Summed over 5 seeds: the weighted search spends its levels on the columns that matter (measured ratios
        // with/without 0.50 Q2_K, 0.68 Q3_K, 0.72 Q4_K, 0.77 IQ4_XS, 0.40 IQ3_S).
        double with = 0, without = 0;
        for (int seed = 0; seed < 5; seed++)
        {
            TensorData weight = Gaussian(16, 512, seed);
            Hessian h = SkewedDiagonal(512, seed + 100);
            with += h.WeightedError(weight.ToFloatArray(), new KQuantizer(new KQuantizerOptions(type, useImportance: true)).Quantize(weight, h).Dequantize());
            without += h.WeightedError(weight.ToFloatArray(), new KQuantizer(new KQuantizerOptions(type)).Quantize(weight).Dequantize());
        }
        Assert.True(with < 0.9 * without, $"{type}: H-weighted error {with:E3} with the importance matrix, {without:E3} without.");
    }

    [Theory]
    [InlineData(KQuantType.Q2_K, false)]
    [InlineData(KQuantType.Q3_K, true)]
    [InlineData(KQuantType.IQ4_XS, true)]
    [InlineData(KQuantType.IQ3_S, false)]
    public void Rows_that_are_not_whole_super_blocks_fall_back_to_IQ4_NL_as_llama_cpp_does(KQuantType type, bool useImportance)
    {
        var quantizer = new KQuantizer(new KQuantizerOptions(type, useImportance));
        Assert.Equal(KQuantType.IQ4_NL, quantizer.FormatFor(96));
        var tensor = Assert.IsType<KQuantTensor>(quantizer.Quantize(Gaussian(5, 96, seed: 1), Hessian.Identity(96)));
        Assert.Equal(KQuantType.IQ4_NL, tensor.Type);
        Assert.Equal(quantizer.StoredBitsFor(5, 96), tensor.StoredBits);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Q4_K_falls_back_to_Q5_0_on_short_rows(bool useImportance)
    {
        var quantizer = new KQuantizer(new KQuantizerOptions(KQuantType.Q4_K, useImportance));
        Assert.Null(quantizer.FormatFor(64));
        TensorData weight = Gaussian(3, 64, seed: 2);
        var tensor = Assert.IsType<GgmlBlockTensor>(quantizer.Quantize(weight, Hessian.Identity(64)));
        Assert.Equal(GgmlType.Q5_0, tensor.Type);
        if (!useImportance) // without an importance matrix the fallback is ggml's reference Q5_0, byte for byte
            Assert.Equal(new GgmlQuantizer(new GgmlQuantizerOptions(GgmlType.Q5_0)).QuantizeTensor(weight).Blocks.ToArray(), tensor.Blocks.ToArray());
    }

    [Fact]
    public void Bad_input_is_refused_naming_the_tensor()
    {
        var withImportance = new KQuantizer(new KQuantizerOptions(KQuantType.Q3_K, useImportance: true));
        var plain = new KQuantizer(new KQuantizerOptions(KQuantType.Q3_K));
        Assert.Contains("blocks.0.w", Assert.Throws<ArgumentException>(() => withImportance.Quantize(Gaussian(2, 256, 1))).Message);
        Assert.Contains("blocks.0.w", Assert.Throws<ArgumentException>(() => withImportance.Quantize(Gaussian(2, 256, 1), Hessian.Identity(128))).Message);
        Assert.Contains("blocks.0.w", Assert.Throws<ArgumentException>(() => plain.Quantize(Gaussian(2, 100, 1))).Message);
        float[] values = Gaussian(2, 256, 1).ToFloatArray();
        values[300] = float.NaN;
        string message = Assert.Throws<ArgumentException>(() => plain.Quantize(TensorData.FromFloats("blocks.1.x", [2, 256], values))).Message;
        Assert.Contains("blocks.1.x", message);
        Assert.Contains("[1, 44]", message);
        Assert.Throws<ArgumentException>(() => new KQuantizerOptions((KQuantType)99));
    }
}
