using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;
using RwkvQuant.Kernels.MatVec;
using RwkvQuant.Kernels.Packed;
using RwkvQuant.Packing;

namespace RwkvQuant.Benchmarks.Kernels;

/// <summary>
/// Dequantization of a 2048 × 2048 weight (4 Mi weights, random codes) per packed scheme: the reference twin (the
/// baseline: one code at a time, allocating its output) against the fast CPU dequantization into a preallocated buffer.
/// The GB/s column counts the packed bytes read (the float32 output written is 16 MiB in every case).
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Config))]
public class PackedDequantizeBenchmarks
{
    private const int Rows = 2048, Columns = 2048;

    private static readonly Dictionary<string, Func<Random, object>> Builders = new()
    {
        ["gs-3b-g64"] = random => DequantMatVecBenchmarks.RandomGroupScalar(Rows, Columns, 3, 64, random),
        ["gs-4b-g128"] = random => DequantMatVecBenchmarks.RandomGroupScalar(Rows, Columns, 4, 128, random),
        ["vq-d1-b3"] = random => RandomVectorCodes(1, 3, random),
        ["vq-d2-b4"] = random => RandomVectorCodes(2, 4, random),
        ["vq-d4-b8"] = random => RandomVectorCodes(4, 8, random),
        ["q4_0"] = random => RandomBlocks(GgmlBlockType.Q4_0, random),
        ["q5_1"] = random => RandomBlocks(GgmlBlockType.Q5_1, random),
        ["q8_0"] = random => RandomBlocks(GgmlBlockType.Q8_0, random),
    };

    private static readonly Dictionary<string, long> PackedBytes = [];

    private object _layout = null!;
    private float[] _output = [];

    /// <summary>The packed scheme.</summary>
    [Params("gs-3b-g64", "gs-4b-g128", "vq-d1-b3", "vq-d2-b4", "vq-d4-b8", "q4_0", "q5_1", "q8_0")]
    public string Scheme { get; set; } = "gs-3b-g64";

    /// <summary>Builds the layout and the output buffer.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _layout = Builders[Scheme](new Random(3));
        _output = new float[Rows * Columns];
    }

    /// <summary>The reference twin.</summary>
    [Benchmark(Baseline = true)]
    public float Reference() => _layout switch
    {
        PackedGroupScalar w => PackedReference.Dequantize(w)[0],
        PackedVectorCodes w => PackedReference.Dequantize(w)[0],
        _ => PackedReference.Dequantize((PackedGgmlBlocks)_layout)[0],
    };

    /// <summary>The fast CPU dequantization.</summary>
    [Benchmark]
    public float Fast()
    {
        switch (_layout)
        {
            case PackedGroupScalar w:
                PackedDequantize.Dequantize(w, _output);
                break;
            case PackedVectorCodes w:
                PackedDequantize.Dequantize(w, _output);
                break;
            default:
                PackedDequantize.Dequantize((PackedGgmlBlocks)_layout, _output);
                break;
        }
        return _output[0];
    }

    private static double BytesRead(string scheme)
    {
        lock (PackedBytes)
        {
            if (!PackedBytes.TryGetValue(scheme, out long bytes))
            {
                bytes = Builders[scheme](new Random(3)) switch
                {
                    PackedGroupScalar w => w.PackedBytes,
                    PackedVectorCodes w => w.PackedBytes,
                    PackedGgmlBlocks w => w.PackedBytes,
                    _ => 0,
                };
                PackedBytes[scheme] = bytes;
            }
            return bytes;
        }
    }

    /// <summary>Random codes, int8 codebooks with FP16 scales over groups of 2 rows × 32 columns (the k-means default shape).</summary>
    private static PackedVectorCodes RandomVectorCodes(int dimension, int bits, Random random)
    {
        var codes = new int[Rows * Columns / dimension];
        for (int i = 0; i < codes.Length; i++)
            codes[i] = random.Next(1 << bits);
        int groups = Rows / 2 * (Columns / 32), length = (1 << bits) * dimension;
        var int8 = new sbyte[groups * length];
        for (int i = 0; i < int8.Length; i++)
            int8[i] = (sbyte)random.Next(-127, 128);
        var scales = new ushort[groups];
        for (int g = 0; g < groups; g++)
            scales[g] = BitConverter.HalfToUInt16Bits((Half)(random.NextDouble() * 0.01));
        return PackedVectorCodes.FromInt8(Rows, Columns, dimension, bits, 2, 32, BitPacking.Pack(codes, bits), int8, scales);
    }

    private static PackedGgmlBlocks RandomBlocks(GgmlBlockType type, Random random)
    {
        int blockBytes = PackedGgmlBlocks.BytesPerBlock(type);
        var bytes = new byte[Rows * Columns / 32 * blockBytes];
        random.NextBytes(bytes);
        for (int b = 0; b < bytes.Length; b += blockBytes)
        {
            BitConverter.TryWriteBytes(bytes.AsSpan(b), (Half)(random.NextDouble() * 0.01));
            BitConverter.TryWriteBytes(bytes.AsSpan(b + 2), (Half)(random.NextDouble() * 0.01)); // m, or qh/qs bytes for the _0 types
        }
        return PackedGgmlBlocks.FromBlocks(type, Rows, Columns, bytes);
    }

    private sealed class Config : ManualConfig
    {
        public Config() => AddColumn(new ThroughputColumn("packed GB/s", c => BytesRead((string)c.Parameters["Scheme"])));
    }
}
