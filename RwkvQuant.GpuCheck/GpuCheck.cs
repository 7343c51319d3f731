using System.Diagnostics;
using ILGPU;
using ILGPU.Runtime;
using RwkvQuant.Kernels.Accelerators;
using RwkvQuant.Kernels.MatVec;
using RwkvQuant.Kernels.Packed;
using RwkvQuant.Kernels.Wkv;

namespace RwkvQuant.GpuCheck;

/// <summary>Sizes of one check run: the product matrices, the WKV call and how often each is timed.</summary>
internal sealed record GpuCheckOptions(int Rows, int Columns, int WkvSteps, int WkvHeads, int Repetitions)
{
    /// <summary>Real-model sizes: a 4096 × 16384 matrix (an RWKV 7B FFN), a 64-token WKV over 64 heads of 64.</summary>
    public static GpuCheckOptions Full { get; } = new(4096, 16384, 64, 64, 50);

    /// <summary>Small sizes for the CPU accelerator (a correctness run, as the tests do).</summary>
    public static GpuCheckOptions Small { get; } = new(40, 96, 3, 2, 2);
}

/// <summary>One line of the report: what ran, whether it matched its reference, and how fast.</summary>
/// <param name="Name">The kernel and shape.</param>
/// <param name="MaxError">Largest |device − reference| over the outputs, relative to the largest |reference|.</param>
/// <param name="Passed">True when <paramref name="MaxError"/> is within the tolerance.</param>
/// <param name="Milliseconds">Mean time of one launch, synchronised.</param>
/// <param name="GigabytesPerSecond">Bytes the launch reads (weights and inputs) over its time.</param>
internal sealed record GpuCheckResult(string Name, double MaxError, bool Passed, double Milliseconds, double GigabytesPerSecond);

/// <summary>
/// Runs the packed dequantize × vector kernels (group-scalar 3-bit g64, ggml Q4_0) and the RWKV-7 WKV on one ILGPU
/// accelerator, compares each with its CPU reference twin and times it, beside a device-to-device copy as the memory
/// bandwidth the products should approach.
/// </summary>
internal static class GpuCheck
{
    /// <summary>Relative tolerance of a device result against its reference (float32 sums in another order).</summary>
    public const double Tolerance = 1e-4;

    public static IReadOnlyList<GpuCheckResult> Run(KernelDevice device, GpuCheckOptions options, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(options);
        Accelerator accelerator = device.Accelerator;
        var results = new List<GpuCheckResult> { Copy(accelerator, (long)options.Rows * options.Columns, options.Repetitions) };
        log?.Invoke(Describe(results[^1]));
        var random = new Random(1);
        PackedGroupScalar scalar = RandomGroupScalar(options.Rows, options.Columns, random);
        results.Add(Product(accelerator, $"group-scalar 3-bit g64 {options.Rows}x{options.Columns}", scalar.Rows, scalar.Columns,
            ScalarBytes(scalar), (x, y) => PackedReference.MatVec(scalar, x, y, 1),
            () => new DeviceGroupScalar(accelerator, scalar), (launcher, w, x, y) => launcher.MatVec((DeviceGroupScalar)w, x, y, 1), options.Repetitions, random));
        log?.Invoke(Describe(results[^1]));
        PackedGgmlBlocks ggml = RandomQ4(options.Rows, options.Columns, random);
        results.Add(Product(accelerator, $"ggml Q4_0 {options.Rows}x{options.Columns}", ggml.Rows, ggml.Columns,
            ggml.Blocks.LongLength, (x, y) => PackedReference.MatVec(ggml, x, y, 1),
            () => new DeviceGgmlBlocks(accelerator, ggml), (launcher, w, x, y) => launcher.MatVec((DeviceGgmlBlocks)w, x, y, 1), options.Repetitions, random));
        log?.Invoke(Describe(results[^1]));
        results.Add(Wkv7(accelerator, new WkvShape(options.WkvSteps, options.WkvHeads, 64), options.Repetitions, random));
        log?.Invoke(Describe(results[^1]));
        return results;
    }

    public static string Describe(GpuCheckResult r) =>
        FormattableString.Invariant($"{(r.Passed ? "ok  " : "FAIL")} {r.Name,-44} max rel. error {r.MaxError:E2}  {r.Milliseconds,9:F4} ms  {r.GigabytesPerSecond,8:F1} GB/s");

    /// <summary>A device-to-device copy of <paramref name="floats"/> floats: its GB/s counts the bytes read and written.</summary>
    private static GpuCheckResult Copy(Accelerator accelerator, long floats, int repetitions)
    {
        using MemoryBuffer1D<float, Stride1D.Dense> source = accelerator.Allocate1D<float>(floats);
        using MemoryBuffer1D<float, Stride1D.Dense> target = accelerator.Allocate1D<float>(floats);
        source.MemSetToZero();
        accelerator.Synchronize();
        double ms = Time(accelerator, () => source.View.CopyTo(target.View), repetitions);
        return new GpuCheckResult(FormattableString.Invariant($"copy {floats * 4 / 1024.0:N0} KiB (read + write)"), 0, true, ms, 2.0 * floats * 4 / (ms * 1e6));
    }

    private static GpuCheckResult Product(Accelerator accelerator, string name, int rows, int columns, long weightBytes,
        Action<float[], float[]> reference, Func<IDisposable> upload, Action<PackedKernelLauncher, IDisposable, ArrayView<float>, ArrayView<float>> multiply,
        int repetitions, Random random)
    {
        float[] x = Enumerable.Range(0, columns).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var expected = new float[rows];
        reference(x, expected);
        PackedKernelLauncher launcher = PackedKernelLauncher.For(accelerator);
        using IDisposable weights = upload();
        using MemoryBuffer1D<float, Stride1D.Dense> xs = accelerator.Allocate1D(x);
        using MemoryBuffer1D<float, Stride1D.Dense> ys = accelerator.Allocate1D<float>(rows);
        multiply(launcher, weights, xs.View, ys.View);
        float[] actual = ys.GetAsArray1D();
        double error = RelativeError(expected, actual);
        double ms = Time(accelerator, () => multiply(launcher, weights, xs.View, ys.View), repetitions);
        return new GpuCheckResult(name, error, error <= Tolerance, ms, (weightBytes + 4.0 * columns) / (ms * 1e6));
    }

    private static GpuCheckResult Wkv7(Accelerator accelerator, WkvShape shape, int repetitions, Random random)
    {
        float[] Values(int length, double low, double high) => Enumerable.Range(0, length).Select(_ => (float)(low + (high - low) * random.NextDouble())).ToArray();
        int n = shape.TokenLength;
        float[] r = Values(n, -1, 1), w = Values(n, 0.5, 0.99), k = Values(n, -1, 1), v = Values(n, -1, 1);
        float[] z = Values(n, -0.1, 0.1), b = Values(n, -0.1, 0.1), state = Values(shape.StateLength, -0.1, 0.1);
        float[] expectedState = (float[])state.Clone(), expected = new float[n];
        Wkv7Reference.Run(shape, r, w, k, v, z, b, expectedState, expected);
        Wkv7Launcher launcher = Wkv7Launcher.For(accelerator);
        float[] actualState = (float[])state.Clone(), actual = new float[n];
        launcher.Run(shape, r, w, k, v, z, b, actualState, actual);
        double error = Math.Max(RelativeError(expected, actual), RelativeError(expectedState, actualState));
        using var buffers = new DisposableList();
        ArrayView<float> Upload(float[] values) => buffers.Add(accelerator.Allocate1D(values)).View;
        ArrayView<float> rv = Upload(r), wv = Upload(w), kv = Upload(k), vv = Upload(v), zv = Upload(z), bv = Upload(b), sv = Upload(state), yv = Upload(actual);
        double ms = Time(accelerator, () => launcher.Launch(shape, rv, wv, kv, vv, zv, bv, sv, yv), repetitions);
        double bytes = 4.0 * (7L * n + 2L * shape.StateLength);
        return new GpuCheckResult($"WKV-7 T={shape.Steps} H={shape.Heads} N={shape.HeadSize}", error, error <= Tolerance, ms, bytes / (ms * 1e6));
    }

    /// <summary>Mean milliseconds of <paramref name="launch"/> after one warm-up, synchronised each time.</summary>
    private static double Time(Accelerator accelerator, Action launch, int repetitions)
    {
        launch();
        accelerator.Synchronize();
        var stopwatch = Stopwatch.StartNew();
        for (int i = 0; i < repetitions; i++)
            launch();
        accelerator.Synchronize();
        return stopwatch.Elapsed.TotalMilliseconds / repetitions;
    }

    private static double RelativeError(float[] expected, float[] actual)
    {
        double largest = 1e-30, worst = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            largest = Math.Max(largest, Math.Abs(expected[i]));
            worst = Math.Max(worst, Math.Abs(expected[i] - actual[i]));
        }
        return float.IsFinite(actual.Sum()) ? worst / largest : double.PositiveInfinity;
    }

    private static long ScalarBytes(PackedGroupScalar w) => w.Codes.LongLength + 2L * w.GroupParameters.LongLength;

    /// <summary>Random 3-bit codes, groups of 64, FP16 scales in [0.001, 0.01] and zeros in [0, 7].</summary>
    private static PackedGroupScalar RandomGroupScalar(int rows, int columns, Random random)
    {
        var codes = new byte[((long)rows * columns * 3 + 7) / 8];
        random.NextBytes(codes);
        int groups = rows * ((columns + 63) / 64);
        var scales = new byte[2 * groups];
        var zeros = new byte[2 * groups];
        for (int g = 0; g < groups; g++)
        {
            BitConverter.TryWriteBytes(scales.AsSpan(2 * g), (System.Half)(0.001 + 0.009 * random.NextDouble()));
            BitConverter.TryWriteBytes(zeros.AsSpan(2 * g), (System.Half)(random.NextDouble() * 7));
        }
        return PackedGroupScalar.FromDense(rows, columns, 3, 64, false, ScaleFormat.F16, codes, scales, zeros, []);
    }

    /// <summary>Random Q4_0 blocks with FP16 scales in [0, 0.1).</summary>
    private static PackedGgmlBlocks RandomQ4(int rows, int columns, Random random)
    {
        int blockBytes = PackedGgmlBlocks.BytesPerBlock(GgmlBlockType.Q4_0);
        var bytes = new byte[(long)rows * (columns / 32) * blockBytes];
        random.NextBytes(bytes);
        for (long b = 0; b < bytes.LongLength; b += blockBytes)
            BitConverter.TryWriteBytes(bytes.AsSpan((int)b), (System.Half)(random.NextDouble() * 0.1));
        return PackedGgmlBlocks.FromBlocks(GgmlBlockType.Q4_0, rows, columns, bytes);
    }

    /// <summary>Buffers disposed together.</summary>
    private sealed class DisposableList : IDisposable
    {
        private readonly List<IDisposable> _items = [];

        public T Add<T>(T item) where T : IDisposable
        {
            _items.Add(item);
            return item;
        }

        public void Dispose()
        {
            foreach (IDisposable item in _items)
                item.Dispose();
        }
    }
}
