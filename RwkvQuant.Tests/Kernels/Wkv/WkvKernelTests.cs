using RwkvQuant.Kernels.Wkv;

namespace RwkvQuant.Tests.Kernels.Wkv;

/// <summary>The WKV twins (reference, SIMD CPU, ILGPU on its CPU accelerator) agree, and state carries across calls.</summary>
public sealed class WkvKernelTests(IlgpuCpuFixture fixture) : IClassFixture<IlgpuCpuFixture>
{
    /// <summary>SIMD sums in another order than the reference; ILGPU runs the reference's expression.</summary>
    private const float SimdTolerance = 2e-5f, KernelTolerance = 1e-6f;

    public static TheoryData<int, int, int> Shapes => new()
    {
        { 3, 5, 1 }, { 3, 5, 7 }, { 3, 16, 1 }, { 3, 16, 7 }, { 3, 64, 33 }, { 2, 13, 33 }, { 1, 9, 4 },
    };

    private delegate void Runner(WkvInputs x, WkvShape shape, float[] r, float[] w, float[] k, float[] v, float[] z, float[] b,
        float[] state, float[] y);

    private static Runner V6(Action<WkvShape, float[], float[], float[], float[], float[], float[], float[]> run) =>
        (x, shape, r, w, k, v, _, _, state, y) => run(shape, r, w, k, v, x.U, state, y);

    private static Runner V7(Action<WkvShape, float[], float[], float[], float[], float[], float[], float[], float[]> run) =>
        (_, shape, r, w, k, v, z, b, state, y) => run(shape, r, w, k, v, z, b, state, y);

    private IEnumerable<(string Name, Runner Run, float Tolerance)> Implementations(int version)
    {
        if (version == 6)
        {
            yield return ("simd", V6((s, r, w, k, v, u, st, y) => Wkv6Cpu.Run(s, r, w, k, v, u, st, y)), SimdTolerance);
            Wkv6Launcher launcher = Wkv6Launcher.For(fixture.Accelerator);
            yield return ("ilgpu", V6((s, r, w, k, v, u, st, y) => launcher.Run(s, r, w, k, v, u, st, y)), KernelTolerance);
        }
        else
        {
            yield return ("simd", V7((s, r, w, k, v, z, b, st, y) => Wkv7Cpu.Run(s, r, w, k, v, z, b, st, y)), SimdTolerance);
            Wkv7Launcher launcher = Wkv7Launcher.For(fixture.Accelerator);
            yield return ("ilgpu", V7((s, r, w, k, v, z, b, st, y) => launcher.Run(s, r, w, k, v, z, b, st, y)), KernelTolerance);
        }
    }

    private static Runner Reference(int version) => version == 6
        ? V6((s, r, w, k, v, u, st, y) => Wkv6Reference.Run(s, r, w, k, v, u, st, y))
        : V7((s, r, w, k, v, z, b, st, y) => Wkv7Reference.Run(s, r, w, k, v, z, b, st, y));

    /// <summary>Runs all tokens of <paramref name="x"/> in calls of the given lengths; returns y and the final state.</summary>
    private static (float[] Y, float[] State) Run(Runner run, WkvInputs x, params int[] chunks)
    {
        float[] state = (float[])x.State.Clone();
        var y = new List<float>();
        int from = 0;
        foreach (int count in chunks)
        {
            WkvShape shape = x.Shape.WithSteps(count);
            var part = new float[shape.TokenLength];
            run(x, shape, x.Tokens(x.R, from, count), x.Tokens(x.W, from, count), x.Tokens(x.K, from, count), x.Tokens(x.V, from, count),
                x.Tokens(x.Z, from, count), x.Tokens(x.B, from, count), state, part);
            y.AddRange(part);
            from += count;
        }
        Assert.Equal(x.Shape.Steps, from);
        return (y.ToArray(), state);
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void V6_simd_and_ilgpu_equal_the_reference(int heads, int n, int steps) => FastPathsEqualTheReference(6, heads, n, steps);

    [Theory]
    [MemberData(nameof(Shapes))]
    public void V7_simd_and_ilgpu_equal_the_reference(int heads, int n, int steps) => FastPathsEqualTheReference(7, heads, n, steps);

    private void FastPathsEqualTheReference(int version, int heads, int n, int steps)
    {
        var x = new WkvInputs(new WkvShape(steps, heads, n), seed: heads * 1000 + n * 10 + steps);
        (float[] y, float[] state) = Run(Reference(version), x, steps);
        Assert.Contains(y, value => Math.Abs(value) > 0.1f); // the inputs are not degenerate
        foreach ((string name, Runner run, float tolerance) in Implementations(version))
        {
            (float[] fastY, float[] fastState) = Run(run, x, steps);
            WkvInputs.AssertClose(y, fastY, tolerance, $"v{version} {name} y");
            WkvInputs.AssertClose(state, fastState, tolerance, $"v{version} {name} state");
        }
    }

    [Theory]
    [InlineData(6)]
    [InlineData(7)]
    public void Token_steps_and_chunks_with_carried_state_equal_one_long_sequence(int version)
    {
        var x = new WkvInputs(new WkvShape(12, 3, 16), seed: version);
        int[] steps = Enumerable.Repeat(1, 12).ToArray();
        var runners = new List<(string, Runner, float)> { ("reference", Reference(version), 1e-6f) };
        runners.AddRange(Implementations(version));
        foreach ((string name, Runner run, float tolerance) in runners)
        {
            (float[] y, float[] state) = Run(run, x, 12);
            foreach (int[] chunks in new[] { steps, [5, 1, 6], [1, 11] })
            {
                (float[] chunkedY, float[] chunkedState) = Run(run, x, chunks);
                WkvInputs.AssertClose(y, chunkedY, tolerance, $"v{version} {name} y by [{string.Join(',', chunks)}]");
                WkvInputs.AssertClose(state, chunkedState, tolerance, $"v{version} {name} state");
            }
        }
    }

    [Fact]
    public void Shapes_are_checked_and_name_the_argument()
    {
        var shape = new WkvShape(2, 3, 4);
        float[] token = new float[shape.TokenLength], state = new float[shape.StateLength], u = new float[shape.HeadVectorLength];
        float[] shortToken = new float[shape.TokenLength - 1];
        Assert.Equal("k", Assert.Throws<ArgumentException>(() => Wkv6Reference.Run(shape, token, token, shortToken, token, u, state, token)).ParamName);
        Assert.Equal("u", Assert.Throws<ArgumentException>(() => Wkv6Cpu.Run(shape, token, token, token, token, token, state, token)).ParamName);
        Assert.Equal("state", Assert.Throws<ArgumentException>(() => Wkv7Cpu.Run(shape, token, token, token, token, token, token, token, token)).ParamName);
        Wkv7Launcher launcher = Wkv7Launcher.For(fixture.Accelerator);
        Assert.Equal("b", Assert.Throws<ArgumentException>(() => launcher.Run(shape, token, token, token, token, token, shortToken, state, token)).ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => new WkvShape(0, 3, 4));
    }
}
