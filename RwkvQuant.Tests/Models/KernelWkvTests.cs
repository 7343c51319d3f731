using RwkvQuant.Formats.Ggml;
using RwkvQuant.Models;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace RwkvQuant.Tests.Models;

/// <summary>
/// The networks' WKV on the SIMD kernels (<see cref="KernelWkv"/>) equals their per-token torch loop: on random inputs
/// of odd sizes from a non-zero state, and through a whole forward pass of the fixture models.
/// </summary>
public sealed class KernelWkvTests(ITestOutputHelper output)
{
    /// <summary>Relative to 1 + |expected|, as the kernel tests' <c>WkvInputs.AssertClose</c>.</summary>
    private const float Tolerance = 2e-5f;

    public static TheoryData<int, int, int, int> Shapes => new()
    {
        { 3, 7, 2, 5 },
        { 2, 11, 3, 9 },
        { 1, 1, 1, 1 },
        { 5, 3, 1, 17 },
        { 2, 40, 2, 64 },   // a realistic head size; T·H·N² above the kernels' threshold for parallel heads
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Rwkv7_kernel_path_equals_the_torch_loop(int batch, int steps, int heads, int n)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var inputs = new RandomInputs(batch, steps, heads, n, seed: 7 + n);
        Tensor z = inputs.Kappa.neg(), b = inputs.Kappa * inputs.A;
        Tensor s0Before = inputs.S0.clone();

        Assert.True(KernelWkv.Applies(inputs.S0, inputs.R, inputs.W, inputs.K, inputs.V, z, b));
        Tensor y = Rwkv7Network.Wkv(inputs.R, inputs.W, inputs.K, inputs.V, z, b, inputs.S0, out Tensor s);
        Tensor yTorch = Rwkv7Network.WkvTorch(inputs.R, inputs.W, inputs.K, inputs.V, z, b, inputs.S0, out Tensor sTorch);

        AssertOutputs(y, s, yTorch, sTorch, inputs.S0, s0Before, $"v7 B={batch} T={steps} H={heads} N={n}");
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Rwkv6_kernel_path_equals_the_torch_loop(int batch, int steps, int heads, int n)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var inputs = new RandomInputs(batch, steps, heads, n, seed: 11 + n);
        Tensor s0Before = inputs.S0.clone();

        Assert.True(KernelWkv.Applies(inputs.S0, inputs.R, inputs.W, inputs.K, inputs.V, inputs.U));
        Tensor y = Rwkv6Network.Wkv(inputs.R, inputs.W, inputs.K, inputs.V, inputs.U, inputs.S0, out Tensor s);
        Tensor yTorch = Rwkv6Network.WkvTorch(inputs.R, inputs.W, inputs.K, inputs.V, inputs.U, inputs.S0, out Tensor sTorch);

        AssertOutputs(y, s, yTorch, sTorch, inputs.S0, s0Before, $"v6 B={batch} T={steps} H={heads} N={n}");
    }

    [Fact]
    public void Kernel_path_reads_strided_inputs_and_state()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var inputs = new RandomInputs(3, 6, 2, 5, seed: 3);
        // The same values, laid out [B, H, T, N] / [B, H, N(key), N(value)] and seen through transposed views.
        Tensor Strided(Tensor t) => t.transpose(1, 2).contiguous().transpose(1, 2);
        Tensor r = Strided(inputs.R), w = Strided(inputs.W), k = Strided(inputs.K), v = Strided(inputs.V);
        Tensor s0 = inputs.S0.transpose(2, 3).contiguous().transpose(2, 3);
        Assert.False(r.is_contiguous());
        Assert.False(s0.is_contiguous());

        Tensor y = Rwkv6Network.Wkv(r, w, k, v, inputs.U, s0, out Tensor s);
        Tensor yTorch = Rwkv6Network.WkvTorch(inputs.R, inputs.W, inputs.K, inputs.V, inputs.U, inputs.S0, out Tensor sTorch);

        AssertOutputs(y, s, yTorch, sTorch, s0, inputs.S0, "v6 strided");
    }

    [Fact]
    public void Torch_loop_is_kept_where_the_kernel_cannot_stand_in()
    {
        using var scope = NewDisposeScope();
        var inputs = new RandomInputs(2, 3, 2, 4, seed: 5);
        Tensor[] rwkvu = [inputs.R, inputs.W, inputs.K, inputs.V, inputs.U];

        using (no_grad())
            Assert.True(KernelWkv.Applies(inputs.S0, rwkvu));
        Assert.True(is_grad_enabled());
        Assert.True(KernelWkv.Applies(inputs.S0, rwkvu)); // grad mode on, but nothing to differentiate

        using (KernelWkv.UseTorchLoop())
        {
            Assert.False(KernelWkv.Applies(inputs.S0, rwkvu));
            using (KernelWkv.UseTorchLoop())
                Assert.False(KernelWkv.Applies(inputs.S0, rwkvu));
            Assert.False(KernelWkv.Applies(inputs.S0, rwkvu)); // an inner scope restores what it found
        }
        Assert.True(KernelWkv.Applies(inputs.S0, rwkvu));

        Tensor learned = inputs.W.clone().requires_grad_(true);
        Assert.False(KernelWkv.Applies(inputs.S0, inputs.R, learned, inputs.K, inputs.V, inputs.U));
        using (no_grad())
            Assert.True(KernelWkv.Applies(inputs.S0, inputs.R, learned, inputs.K, inputs.V, inputs.U));

        Assert.False(KernelWkv.Applies(inputs.S0.to(ScalarType.Float64), rwkvu));
        Assert.False(KernelWkv.Applies(inputs.S0, inputs.R.to(ScalarType.Float64), inputs.W, inputs.K, inputs.V, inputs.U));
    }

    [Fact]
    public void Gradients_still_flow_through_the_torch_loop()
    {
        using var scope = NewDisposeScope();
        var inputs = new RandomInputs(2, 4, 2, 3, seed: 9);
        Tensor r = inputs.R.clone().requires_grad_(true);
        Tensor y = Rwkv6Network.Wkv(r, inputs.W, inputs.K, inputs.V, inputs.U, inputs.S0, out Tensor s);
        (y.sum() + s.sum()).backward();
        Assert.NotNull(r.grad);
        Assert.True(r.grad!.abs().sum().item<float>() > 0);
    }

    [FixtureTheory]
    [InlineData("tiny-rwkv-6v0-1m-FP32.bin")]
    [InlineData("tiny-rwkv-7v0-834K-FP32.bin")]
    public void Forward_pass_on_the_kernel_equals_the_torch_loop(string file)
    {
        using RwkvNetwork network = RwkvNetwork.Create(GgmlModelLoader.Load(Fixtures.Path("rwkvcpp", file)));
        using var scope = NewDisposeScope();
        var random = new Random(13);
        Tensor Tokens(int steps) => tensor(Enumerable.Range(0, 3 * steps).Select(_ => (long)random.Next(256)).ToArray(), [3, steps]);
        Tensor prefix = Tokens(5), tokens = Tokens(19);

        (float[] Logits, float[] State) Run(bool torchLoop)
        {
            using IDisposable? forced = torchLoop ? KernelWkv.UseTorchLoop() : null;
            using RwkvState state = network.CreateState(3);
            network.Forward(prefix, state);                                // a non-zero state to start from
            float[] logits = network.Forward(tokens, state).data<float>().ToArray();
            float[] wkv = Enumerable.Range(0, network.Config.LayerCount)
                .SelectMany(layer => state.Layer(layer)[2].data<float>().ToArray()).ToArray();
            return (logits, wkv);
        }

        (float[] torchLogits, float[] torchState) = Run(torchLoop: true);
        (float[] kernelLogits, float[] kernelState) = Run(torchLoop: false);
        AssertClose(torchLogits, kernelLogits, 1e-4f, $"{file} logits");
        AssertClose(torchState, kernelState, 1e-4f, $"{file} WKV state");
    }

    private void AssertOutputs(Tensor y, Tensor s, Tensor yTorch, Tensor sTorch, Tensor s0, Tensor s0Before, string what)
    {
        Assert.Equal(yTorch.shape, y.shape);
        Assert.Equal(sTorch.shape, s.shape);
        Assert.NotSame(s0, s);
        AssertClose(yTorch.contiguous().data<float>().ToArray(), y.contiguous().data<float>().ToArray(), Tolerance, what + " y");
        AssertClose(sTorch.contiguous().data<float>().ToArray(), s.contiguous().data<float>().ToArray(), Tolerance, what + " state");
        Assert.True(s0.equal(s0Before).all().item<bool>(), $"{what}: the caller's s0 was changed");
        output.WriteLine($"{what}: max |Δy| = {(y - yTorch).abs().max().item<float>():E2}, max |ΔS| = {(s - sTorch).abs().max().item<float>():E2}");
    }

    private static void AssertClose(float[] expected, float[] actual, float tolerance, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            if (!(Math.Abs(expected[i] - actual[i]) <= tolerance * (1 + Math.Abs(expected[i]))))
                Assert.Fail($"{what}[{i}]: expected {expected[i]}, got {actual[i]} (tolerance {tolerance} relative).");
        }
    }

    /// <summary>
    /// WKV inputs <c>[B, T, H, N]</c> of realistic ranges (decays in (0, 1), κ̂ unit per head, a in (0, 1)), the bonus
    /// u <c>[H, N]</c> and a non-zero state <c>[B, H, N, N]</c>, from a fixed seed.
    /// </summary>
    private sealed class RandomInputs
    {
        public RandomInputs(int batch, int steps, int heads, int n, int seed)
        {
            var random = new Random(seed);
            float Normal() => (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
            Tensor Fill(long[] shape, Func<float> next) =>
                tensor(Enumerable.Range(0, (int)shape.Aggregate(1L, (a, d) => a * d)).Select(_ => next()).ToArray(), shape);
            long[] tokens = [batch, steps, heads, n];
            R = Fill(tokens, Normal);
            W = Fill(tokens, () => MathF.Exp(-MathF.Exp(0.5f * Normal() - 1)));
            K = Fill(tokens, () => 0.5f * Normal());
            V = Fill(tokens, Normal);
            U = Fill([heads, n], Normal);
            S0 = Fill([batch, heads, n, n], () => 0.3f * Normal());
            Tensor kappa = Fill(tokens, Normal);
            Kappa = nn.functional.normalize(kappa, p: 2, dim: -1);
            A = Fill(tokens, () => (float)random.NextDouble());
        }

        public Tensor R { get; }

        public Tensor W { get; }

        public Tensor K { get; }

        public Tensor V { get; }

        public Tensor U { get; }

        public Tensor S0 { get; }

        /// <summary>κ̂, unit length per head.</summary>
        public Tensor Kappa { get; }

        public Tensor A { get; }
    }
}
