using RwkvQuant.Kernels.Accelerators;
using RwkvQuant.Kernels.MatVec;
using RwkvQuant.Kernels.Packed;

namespace RwkvQuant.Tests.Kernels.MatVec;

/// <summary>
/// The ILGPU kernels against the reference twins, once per backend: ILGPU's CPU accelerator always, CUDA as well when
/// this machine has a device (the backend is a theory parameter, so CUDA cases simply appear there).
/// </summary>
public sealed class PackedKernelLauncherTests : IDisposable
{
    private readonly Dictionary<KernelDeviceKind, KernelDevice> _devices = [];

    public static IEnumerable<KernelDeviceKind> Backends() =>
        KernelDevice.IsCudaAvailable() ? [KernelDeviceKind.Cpu, KernelDeviceKind.Cuda] : [KernelDeviceKind.Cpu];

    public static TheoryData<KernelDeviceKind, int, int> GroupScalarCases()
    {
        var data = new TheoryData<KernelDeviceKind, int, int>();
        foreach (KernelDeviceKind kind in Backends())
            for (int bits = 2; bits <= 8; bits++)
                for (int variant = 0; variant < 3; variant++)
                    data.Add(kind, bits, variant);
        return data;
    }

    public static TheoryData<KernelDeviceKind, int> VectorCases()
    {
        var data = new TheoryData<KernelDeviceKind, int>();
        foreach (KernelDeviceKind kind in Backends())
            for (int variant = 0; variant < 6; variant++)
                data.Add(kind, variant);
        return data;
    }

    public static TheoryData<KernelDeviceKind, int> GgmlCases()
    {
        var data = new TheoryData<KernelDeviceKind, int>();
        foreach (KernelDeviceKind kind in Backends())
            foreach (GgmlBlockType type in Enum.GetValues<GgmlBlockType>())
                data.Add(kind, (int)type);
        return data;
    }

    [Theory]
    [MemberData(nameof(GroupScalarCases))]
    public void Group_scalar_kernels_equal_the_reference(KernelDeviceKind kind, int bits, int variant)
    {
        PackedGroupScalar w = variant switch
        {
            0 => PackedTestData.GroupScalar(37, 131, bits, 64, false, ScaleFormat.F16, false, seed: bits),
            1 => PackedTestData.GroupScalar(5, 77, bits, 32, true, ScaleFormat.BF16, true, seed: bits),
            _ => PackedTestData.GroupScalar(19, 45, bits, 7, false, ScaleFormat.F32, true, seed: bits),
        };
        PackedKernelLauncher launcher = PackedKernelLauncher.For(Device(kind).Accelerator);
        float[] weights = PackedReference.Dequantize(w);
        Assert.Equal(weights, launcher.Dequantize(w));
        CheckProducts(weights, w.Rows, w.Columns, 1 << bits, (x, y, n) => launcher.MatVec(w, x, y, n));
    }

    [Theory]
    [MemberData(nameof(VectorCases))]
    public void Vector_quantized_kernels_equal_the_reference(KernelDeviceKind kind, int variant)
    {
        PackedVectorCodes w = variant switch
        {
            0 => PackedTestData.VectorCodes(37, 131, 1, 3, 2, 32, CodebookFormat.Int8Scaled, seed: 1),
            1 => PackedTestData.VectorCodes(37, 130, 2, 5, 4, 34, CodebookFormat.F16, seed: 2),
            2 => PackedTestData.VectorCodes(5, 76, 4, 3, 3, 16, CodebookFormat.F32, seed: 3),
            3 => PackedTestData.VectorCodes(9, 200, 2, 8, 3, 40, CodebookFormat.Int8Scaled, seed: 4),
            4 => PackedTestData.VectorCodes(6, 99, 1, 12, 6, 99, CodebookFormat.F16, seed: 5),
            _ => PackedTestData.VectorCodes(11, 84, 4, 7, 2, 12, CodebookFormat.Int8Scaled, seed: 6),
        };
        PackedKernelLauncher launcher = PackedKernelLauncher.For(Device(kind).Accelerator);
        float[] weights = PackedReference.Dequantize(w);
        Assert.Equal(weights, launcher.Dequantize(w));
        CheckProducts(weights, w.Rows, w.Columns, 0, (x, y, n) => launcher.MatVec(w, x, y, n));
    }

    [Theory]
    [MemberData(nameof(GgmlCases))]
    public void Ggml_kernels_equal_the_reference(KernelDeviceKind kind, int type)
    {
        PackedGgmlBlocks w = PackedTestData.GgmlBlocks((GgmlBlockType)type, 37, 96, seed: type);
        PackedKernelLauncher launcher = PackedKernelLauncher.For(Device(kind).Accelerator);
        float[] weights = PackedReference.Dequantize(w);
        Assert.Equal(weights, launcher.Dequantize(w));
        CheckProducts(weights, w.Rows, w.Columns, 0, (x, y, n) => launcher.MatVec(w, x, y, n));
    }

    [Fact]
    public void Launches_with_wrong_shapes_are_refused()
    {
        PackedGroupScalar w = PackedTestData.GroupScalar(4, 40, 3, 16, false, ScaleFormat.F16, false, seed: 1);
        PackedKernelLauncher launcher = PackedKernelLauncher.For(Device(KernelDeviceKind.Cpu).Accelerator);
        Assert.Throws<ArgumentException>(() => launcher.MatVec(w, new float[39], new float[4], 1));
        Assert.Throws<ArgumentException>(() => launcher.MatVec(w, new float[80], new float[4], 2));
        Assert.Same(launcher, PackedKernelLauncher.For(Device(KernelDeviceKind.Cpu).Accelerator));
    }

    [Fact]
    public void The_cpu_device_can_be_forced()
    {
        using KernelDevice device = KernelDevice.Create(KernelDeviceKind.Cpu);
        Assert.Equal(KernelDeviceKind.Cpu, device.Kind);
        if (!KernelDevice.IsCudaAvailable())
            Assert.Throws<InvalidOperationException>(() => KernelDevice.Create(KernelDeviceKind.Cuda));
    }

    private static void CheckProducts(float[] weights, int rows, int columns, int codeRange, Action<float[], float[], int> product)
    {
        foreach (int vectors in new[] { 1, 3 })
        {
            float[] x = PackedTestData.Vectors(vectors, columns, seed: 7 + vectors);
            var expected = new float[vectors * rows];
            PackedReference.MatVec(weights, rows, columns, x, expected, vectors);
            float[] scale = PackedTestData.AbsoluteProducts(weights, rows, columns, x, vectors);
            float[] bound = PackedTestData.CodeSumBound(scale, rows, columns, x, codeRange);
            var actual = new float[vectors * rows];
            product(x, actual, vectors);
            PackedTestData.AssertClose(expected, actual, bound, 1e-5, $"kernel product n{vectors}");
        }
    }

    private KernelDevice Device(KernelDeviceKind kind)
    {
        if (!_devices.TryGetValue(kind, out KernelDevice? device))
            _devices[kind] = device = KernelDevice.Create(kind);
        return device;
    }

    public void Dispose()
    {
        foreach (KernelDevice device in _devices.Values)
            device.Dispose();
    }
}
