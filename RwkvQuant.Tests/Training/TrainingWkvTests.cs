using RwkvQuant.Training;
using static TorchSharp.torch;

namespace RwkvQuant.Tests.Training;

public sealed class TrainingWkvTests
{
    /// <summary>Inputs as RWKV-7 makes them: w in (0.545, 1), z = −κ̂ and b = κ̂ ⊙ a with κ̂ unit per head and a in (0, 1).</summary>
    private static Tensor[] Inputs(int batch, int steps, int heads, int n, ulong seed)
    {
        var g = new Generator(seed);
        Tensor r = randn([batch, steps, heads, n], generator: g), k = randn([batch, steps, heads, n], generator: g);
        Tensor v = randn([batch, steps, heads, n], generator: g);
        Tensor w = (-0.6065 * rand([batch, steps, heads, n], generator: g)).exp();
        Tensor kappa = nn.functional.normalize(randn([batch, steps, heads, n], generator: g), p: 2, dim: -1);
        Tensor a = rand([batch, steps, heads, n], generator: g);
        return [r, w, k, v, -kappa, kappa * a];
    }

    [Theory]
    [InlineData(2, 19, 3, 8)]   // T not a multiple of the chunk
    [InlineData(1, 16, 1, 4)]   // exactly one chunk
    [InlineData(3, 5, 2, 6)]    // shorter than a chunk
    [InlineData(2, 53, 2, 16)]  // several chunks and a tail
    public void Chunked_equals_the_sequential_loop_in_values_and_gradients(int batch, int steps, int heads, int n)
    {
        using var scope = NewDisposeScope();
        Tensor[] leaves = Inputs(batch, steps, heads, n, (ulong)(steps * 31 + n));
        Tensor[] a = leaves.Select(t => t.clone().requires_grad_(true)).ToArray();
        Tensor[] b = leaves.Select(t => t.clone().requires_grad_(true)).ToArray();
        Tensor weights = randn([batch, steps, heads, n], generator: new Generator(5)); // a random cotangent

        Tensor sequential = TrainingWkv.Sequential(a[0], a[1], a[2], a[3], a[4], a[5]);
        Tensor chunked = TrainingWkv.Chunked(b[0], b[1], b[2], b[3], b[4], b[5]);
        Assert.Equal(sequential.shape, chunked.shape);
        double scale = sequential.abs().max().item<float>();
        double difference = (sequential - chunked).abs().max().item<float>();
        Assert.True(difference < 1e-4 * Math.Max(1, scale), $"outputs differ by {difference} (scale {scale})");

        (sequential * weights).sum().backward();
        (chunked * weights).sum().backward();
        string[] names = ["r", "w", "k", "v", "z", "b"];
        for (int i = 0; i < a.Length; i++)
        {
            Tensor ga = a[i].grad!, gb = b[i].grad!;
            double gScale = ga.abs().max().item<float>();
            double gDifference = (ga - gb).abs().max().item<float>();
            Assert.True(gDifference < 2e-4 * Math.Max(1, gScale), $"d/d{names[i]} differs by {gDifference} (scale {gScale})");
        }
    }
}
