using System.Globalization;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;
using RwkvQuant.Kernels.MatVec;
using RwkvQuant.Kernels.Packed;
using RwkvQuant.Native;
using RwkvQuant.Packing;
using static TorchSharp.torch;

namespace RwkvQuant.Benchmarks.Kernels;

/// <summary>
/// y = W·x for one token: FP32 W by TorchSharp's <c>torch.mv</c> (the baseline) and by our SIMD product, against the
/// 3-bit group-64 product by table lookup over the packed codes in bit planes (FP16 scale and zero per group, 3.5 bits
/// per weight; random codes) on the widest tier the machine runs, with 8-bit tables, and on the portable 128-bit tier
/// (the 128-bit tier runs on x86 too when asked for; the 8-bit tables need AVX2, else that row repeats the float
/// lookup), the same for a batch of 8 vectors (reported per vector), and a plain parallel copy of the
/// FP32 matrix's bytes (the memory-bandwidth reference). The GB/s column is the bytes each operation reads (weights, x)
/// over its mean time.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Config))]
public class DequantMatVecBenchmarks
{
    private const int Batch = 8;

    private float[] _weights = [];
    private float[] _x = [];
    private float[] _y = [];
    private float[] _xBatch = [];
    private float[] _yBatch = [];
    private float[] _copy = [];
    private PackedBitPlanes _planes = null!;
    private PackedBitPlanes _planesInt6 = null!;
    private PackedVectorCodes _vq = null!;
    private PackedVectorCodes _vq2D = null!;
    private Tensor _torchWeights = null!;
    private Tensor _torchX = null!;

    /// <summary>Rows × columns of W.</summary>
    [Params("1024x1024", "4096x4096", "4096x16384")]
    public string Shape { get; set; } = "1024x1024";

    private (int Rows, int Columns) Size => Parse(Shape);

    /// <summary>Builds W (random FP32 values and random 3-bit codes with FP16 scales and zeros) and x.</summary>
    [GlobalSetup]
    public void Setup()
    {
        TorchSharpNative.EnsureLoadable();
        var (rows, columns) = Size;
        var random = new Random(1);
        _weights = new float[rows * columns];
        for (int i = 0; i < _weights.Length; i++)
            _weights[i] = (float)(random.NextDouble() - 0.5) * 0.1f;
        _copy = new float[_weights.Length];
        _x = new float[columns];
        _xBatch = new float[Batch * columns];
        for (int i = 0; i < _xBatch.Length; i++)
            _xBatch[i] = (float)(random.NextDouble() * 2 - 1);
        _xBatch.AsSpan(0, columns).CopyTo(_x);
        _y = new float[rows];
        _yBatch = new float[Batch * rows];
        _planes = PackedBitPlanes.From(RandomGroupScalar(rows, columns, 3, 64, random));
        _planesInt6 = PackedBitPlanes.From(RandomGroupScalar(rows, columns, 3, 32, random, ScaleFormat.F32));
        _vq = RandomVectorCodes(rows, columns, 1, 3, 2, 32, random);
        _vq2D = RandomVectorCodes(rows, columns, 2, 6, 32, 256, random);
        _torchWeights = tensor(_weights, [rows, columns]);
        _torchX = tensor(_x, [columns]);
    }

    /// <summary>Releases the TorchSharp tensors.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _torchWeights.Dispose();
        _torchX.Dispose();
    }

    /// <summary>FP32 W·x by TorchSharp (libtorch's own threads).</summary>
    [Benchmark(Baseline = true)]
    public float TorchFp32()
    {
        using Tensor y = mv(_torchWeights, _torchX);
        return y[0].item<float>();
    }

    /// <summary>FP32 W·x by our SIMD product.</summary>
    [Benchmark]
    public float SimdFp32()
    {
        var (rows, columns) = Size;
        Fp32MatVec.MatVec(_weights, rows, columns, _x, _y, 1);
        return _y[0];
    }

    /// <summary>Fused 3-bit group-64 × vector by table lookup over the same weights in bit planes.</summary>
    [Benchmark]
    public float Lookup3Bit()
    {
        BitPlaneMatVec.MatVec(_planes, _x, _y, 1);
        return _y[0];
    }

    /// <summary>The same product with x's tables rounded to 8 bits (<see cref="NibbleTableMatVec"/>, AVX2): the engine's default without AVX-512.</summary>
    [Benchmark]
    public float Lookup3BitInt8Tables() => Int8TablesProduct(_planes);

    /// <summary>
    /// The engine's default group-scalar product (as <see cref="Lookup3BitInt8Tables"/>) on what the default recipe stores,
    /// 3-bit codes in groups of 32 with 6-bit scales and zeros, as the engine runs them: expanded to float32 scale and
    /// zero words (2 bits per weight of parameters against g64 FP16's 0.5).
    /// </summary>
    [Benchmark]
    public float Lookup3BitInt6G32() => Int8TablesProduct(_planesInt6);

    /// <summary>W·x by 8-bit tables where the machine runs them (AVX2, 128-bit), else by the float-table lookup.</summary>
    private float Int8TablesProduct(PackedBitPlanes planes)
    {
        if (NibbleTableMatVec.IsSupported)
            NibbleTableMatVec.MatVec(planes, _x, _y, 1);
        else
            BitPlaneMatVec.MatVec(planes, _x, _y, 1);
        return _y[0];
    }

    /// <summary>The same product on the portable 128-bit tier (what an ARM64 machine runs), forced here.</summary>
    [Benchmark]
    public float Lookup3BitPortable()
    {
        BitPlaneMatVec.MatVec(_planes, _x, _y, 1, SimdTier.Vector128);
        return _y[0];
    }

    /// <summary>
    /// GPTVQ's default layout (1-D, 3-bit codes, a codebook of 8 int8 values with an FP16 scale per 2 rows × 32
    /// columns; 4.25 bits per weight) by the centroid lookup on the widest tier that takes it (AVX-512 or AVX2).
    /// </summary>
    [Benchmark]
    public float Vq3Bit()
    {
        VectorCodesMatVec.MatVec(_vq, _x, _y, 1);
        return _y[0];
    }

    /// <summary>The same VQ product on the portable 128-bit tier (what an ARM64 machine runs), forced here.</summary>
    [Benchmark]
    public float Vq3BitPortable()
    {
        VectorCodesMatVec.MatVec(_vq, _x, _y, 1, SimdTier.Vector128);
        return _y[0];
    }

    /// <summary>The same VQ product by the portable row-decoding product (what an ARM64 machine ran before the 128-bit tier).</summary>
    [Benchmark]
    public float Vq3BitRowDecode()
    {
        RowDecodeMatVec.MatVec(_vq, _x, _y, 1);
        return _y[0];
    }

    /// <summary>The same VQ product by the scalar lookup (what an AVX2 machine ran before it had its own tier).</summary>
    [Benchmark]
    public float Vq3BitScalar()
    {
        VectorCodesMatVec.MatVec(_vq, _x, _y, 1, SimdTier.Scalar);
        return _y[0];
    }

    /// <summary>
    /// The budget allocation's 2-D layout (d = 2, 6-bit codes: 64 pairs of int8 values with an FP16 scale per 32 rows ×
    /// 256 columns; 3.07 bits per weight) by the widest tier that takes it (AVX2: pairs loaded from the decoded table; AVX-512 machines run it too).
    /// </summary>
    [Benchmark]
    public float Vq2D6Bit()
    {
        VectorCodesMatVec.MatVec(_vq2D, _x, _y, 1);
        return _y[0];
    }

    /// <summary>The same 2-D product on the portable 128-bit tier (what an ARM64 machine runs), forced here.</summary>
    [Benchmark]
    public float Vq2D6BitPortable()
    {
        VectorCodesMatVec.MatVec(_vq2D, _x, _y, 1, SimdTier.Vector128);
        return _y[0];
    }

    /// <summary>The same 2-D product by the portable row-decoding product (what every machine without AVX-512 ran before the AVX2 table rows).</summary>
    [Benchmark]
    public float Vq2D6BitRowDecode()
    {
        RowDecodeMatVec.MatVec(_vq2D, _x, _y, 1);
        return _y[0];
    }

    /// <summary>Table lookup × 8 vectors, per vector.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public float Lookup3BitBatch8()
    {
        BitPlaneMatVec.MatVec(_planes, _xBatch, _yBatch, Batch);
        return _yBatch[0];
    }

    /// <summary>A parallel copy of the FP32 matrix's bytes (reads and writes them once): the bandwidth reference.</summary>
    [Benchmark]
    public float CopyFp32()
    {
        int rows = Size.Rows, columns = Size.Columns;
        RowPartition.For(rows, columns, (first, end) =>
            _weights.AsSpan(first * columns, (end - first) * columns).CopyTo(_copy.AsSpan(first * columns)));
        return _copy[0];
    }

    /// <summary>Bytes one operation of <paramref name="method"/> reads at <paramref name="shape"/>.</summary>
    internal static double BytesRead(string method, string shape)
    {
        var (rows, columns) = Parse(shape);
        double fp32 = 4.0 * rows * columns;
        double packed = (double)rows * RowAlignedCodes.RowBytes(columns, 3) + rows * ((columns + 63) / 64) * 4.0;
        return method switch
        {
            nameof(Lookup3Bit) or nameof(Lookup3BitPortable) or nameof(Lookup3BitInt8Tables) => packed + 4.0 * columns,
            nameof(Lookup3BitInt6G32) => (double)rows * RowAlignedCodes.RowBytes(columns, 3) + rows * ((columns + 31) / 32) * 8.0 + 4.0 * columns,
            nameof(Lookup3BitBatch8) => (packed + 4.0 * Batch * columns) / Batch,
            nameof(Vq3Bit) or nameof(Vq3BitPortable) or nameof(Vq3BitRowDecode) or nameof(Vq3BitScalar) => (double)rows * RowAlignedCodes.RowBytes(columns, 3) + (rows / 2) * (columns / 32) * 10.0 + 4.0 * columns,
            nameof(Vq2D6Bit) or nameof(Vq2D6BitPortable) or nameof(Vq2D6BitRowDecode) => (double)rows * RowAlignedCodes.RowBytes(columns / 2, 6) + (rows / 32) * (columns / 256) * 130.0 + 4.0 * columns,
            nameof(CopyFp32) => fp32,
            _ => fp32 + 4.0 * columns,
        };
    }

    /// <summary>Random b-bit codes with scales in [0.001, 0.01] and zeros in [0, 2^b − 1], stored as FP16 or float32.</summary>
    internal static PackedGroupScalar RandomGroupScalar(int rows, int columns, int bits, int groupSize, Random random, ScaleFormat format = ScaleFormat.F16)
    {
        var codes = new int[rows * columns];
        for (int i = 0; i < codes.Length; i++)
            codes[i] = random.Next(1 << bits);
        int groups = rows * ((columns + groupSize - 1) / groupSize), size = format == ScaleFormat.F32 ? 4 : 2;
        var scales = new byte[size * groups];
        var zeros = new byte[size * groups];
        for (int g = 0; g < groups; g++)
        {
            double scale = 0.001 + 0.009 * random.NextDouble(), zero = random.NextDouble() * ((1 << bits) - 1);
            if (format == ScaleFormat.F32)
            {
                BitConverter.TryWriteBytes(scales.AsSpan(4 * g), (float)scale);
                BitConverter.TryWriteBytes(zeros.AsSpan(4 * g), (float)zero);
            }
            else
            {
                BitConverter.TryWriteBytes(scales.AsSpan(2 * g), (Half)scale);
                BitConverter.TryWriteBytes(zeros.AsSpan(2 * g), (Half)zero);
            }
        }
        return PackedGroupScalar.FromDense(rows, columns, bits, groupSize, false, format, BitPacking.Pack(codes, bits), scales, zeros, []);
    }

    /// <summary>Random d-dimensional b-bit VQ codes in groups of <paramref name="groupRows"/> × <paramref name="groupColumns"/>, int8 codebooks with FP16 scales.</summary>
    internal static PackedVectorCodes RandomVectorCodes(int rows, int columns, int dimension, int bits, int groupRows, int groupColumns, Random random)
    {
        var codes = new int[rows * columns / dimension];
        for (int i = 0; i < codes.Length; i++)
            codes[i] = random.Next(1 << bits);
        int groups = (rows + groupRows - 1) / groupRows * ((columns + groupColumns - 1) / groupColumns);
        var books = new sbyte[(1 << bits) * dimension * groups];
        for (int i = 0; i < books.Length; i++)
            books[i] = (sbyte)random.Next(-127, 128);
        var scales = new ushort[groups];
        for (int g = 0; g < groups; g++)
            scales[g] = BitConverter.HalfToUInt16Bits((Half)(0.0001 + 0.001 * random.NextDouble()));
        return PackedVectorCodes.FromInt8(rows, columns, dimension, bits, groupRows, groupColumns, BitPacking.Pack(codes, bits), books, scales);
    }

    internal static (int Rows, int Columns) Parse(string shape)
    {
        string[] parts = shape.Split('x');
        return (int.Parse(parts[0], CultureInfo.InvariantCulture), int.Parse(parts[1], CultureInfo.InvariantCulture));
    }

    private sealed class Config : ManualConfig
    {
        public Config() => AddColumn(new ThroughputColumn("GB/s", BytesOf));

        private static double BytesOf(BenchmarkCase c) =>
            BytesRead(c.Descriptor.WorkloadMethod.Name, (string)c.Parameters["Shape"]);
    }
}
