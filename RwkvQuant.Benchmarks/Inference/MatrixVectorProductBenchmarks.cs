using BenchmarkDotNet.Attributes;
using RwkvQuant.Formats;
using RwkvQuant.Inference;
using RwkvQuant.Scalar.Rtn;

namespace RwkvQuant.Benchmarks.Inference;

/// <summary>
/// One matrix-vector product of the engine at the synthetic model's shapes (a 768×3072 projection and the 65536×768
/// head, and a tiny model's 64×64): the kept float32 matrix (baseline), the kept FP16 matrix (converted a chunk at a time), and RTN 3-bit g64
/// from its packed codes, by the portable row-decoding product and by the engine's lookup kernel.
/// </summary>
[MemoryDiagnoser]
public class MatrixVectorProductBenchmarks
{
    private IMatrixVectorProduct _f32 = null!, _f16 = null!, _rtn3 = null!, _rtn3Fused = null!;
    private float[] _x = [], _y = [];

    /// <summary>The matrix shape, rows×columns.</summary>
    [Params("64x64", "768x3072", "65536x768")]
    public string Shape { get; set; } = "";

    /// <summary>Random weights in the three storages, and a random input.</summary>
    [GlobalSetup]
    public void Setup()
    {
        string[] parts = Shape.Split('x');
        int rows = int.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture);
        int columns = int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);
        var random = new Random(3);
        float[] values = new float[(long)rows * columns];
        for (long i = 0; i < values.LongLength; i++)
            values[i] = (float)((random.NextDouble() * 2 - 1) / Math.Sqrt(columns));
        TensorData matrix = TensorData.FromFloats("w", [rows, columns], values);
        _f32 = MatrixVectorProducts.Default.Create(matrix);
        _f16 = MatrixVectorProducts.Default.Create(matrix.ConvertTo(TensorDataType.F16));
        var rtn3 = new RoundToNearestQuantizer(new RoundToNearestOptions { Bits = 3, GroupSize = 64 }).Quantize(matrix);
        _rtn3 = MatrixVectorProducts.Default.Create(rtn3);
        _rtn3Fused = FusedMatrixVectorProducts.Default.Create(rtn3);
        _x = Enumerable.Range(0, columns).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        _y = new float[rows];
    }

    /// <summary>Kept float32.</summary>
    [Benchmark(Baseline = true)]
    public float KeptF32()
    {
        _f32.Multiply(_x, _y);
        return _y[0];
    }

    /// <summary>Kept FP16.</summary>
    [Benchmark]
    public float KeptF16()
    {
        _f16.Multiply(_x, _y);
        return _y[0];
    }

    /// <summary>RTN 3-bit g64 from the packed codes (the portable row-decoding product).</summary>
    [Benchmark]
    public float Rtn3()
    {
        _rtn3.Multiply(_x, _y);
        return _y[0];
    }

    /// <summary>RTN 3-bit g64 by the engine's default: the fused AVX-512 kernel over the row-aligned layout.</summary>
    [Benchmark]
    public float Rtn3Fused()
    {
        _rtn3Fused.Multiply(_x, _y);
        return _y[0];
    }
}
