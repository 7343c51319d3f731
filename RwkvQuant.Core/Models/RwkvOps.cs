using RwkvQuant.Formats;
using static RwkvQuant.Native.TorchScalars;
using TorchSharp;
using static TorchSharp.torch;

namespace RwkvQuant.Models;

/// <summary>Building blocks shared by the RWKV networks (float32, any leading batch dimensions).</summary>
internal static class RwkvOps
{
    /// <summary>ε of every LayerNorm in RWKV (<c>ln0, ln1, ln2, ln_out</c>).</summary>
    public const double LayerNormEpsilon = 1e-5;

    /// <summary>A float32 torch tensor holding <paramref name="tensor"/>'s values, detached from any dispose scope.</summary>
    public static Tensor ToTorch(TensorData tensor, params long[] shape)
    {
        long[] target = shape.Length > 0 ? shape : tensor.Shape.ToArray();
        return torch.tensor(tensor.ToFloatArray(), target).DetachFromDisposeScope();
    }

    /// <summary>LayerNorm over the last dimension: (x − mean) / √(var + 1e-5) · w + b.</summary>
    public static Tensor LayerNorm(Tensor x, Tensor weight, Tensor bias) =>
        nn.functional.layer_norm(x, [x.shape[^1]], weight, bias, LayerNormEpsilon);

    /// <summary>
    /// GroupNorm with one group per head over the last dimension C = H·N (rwkv.cpp's <c>ln_x</c>):
    /// each head's N values are normalized as (x − mean) / √(var + ε), then scaled by w and shifted by b (per channel).
    /// </summary>
    public static Tensor GroupNorm(Tensor x, int heads, Tensor weight, Tensor bias, double epsilon)
    {
        using var scope = torch.NewDisposeScope();
        long[] shape = x.shape;
        long width = shape[^1];
        Tensor h = x.reshape(-1, heads, width / heads);                 // [*, H, N]
        Tensor centered = h - h.mean([-1], keepdim: true);
        Tensor variance = centered.pow(Two).mean([-1], keepdim: true);
        using var eps = epsilon.ToScalar();
        Tensor normalized = (centered / variance.add(eps, One).sqrt()).reshape(shape);
        return (normalized * weight).add(bias, One).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Token shift: for x <c>[B, T, C]</c> returns the previous token's vector at every position, <c>[B, T, C]</c>, the
    /// first one taken from <paramref name="last"/> <c>[B, C]</c> (the state).
    /// </summary>
    public static Tensor Shift(Tensor x, Tensor last)
    {
        long steps = x.shape[1];
        return steps == 1 ? last.unsqueeze(1) : torch.cat([last.unsqueeze(1), x.narrow(1, 0, steps - 1)], 1);
    }

    /// <summary>The last position of x <c>[B, T, C]</c> as a fresh <c>[B, C]</c> tensor (the next token-shift state).</summary>
    public static Tensor Last(Tensor x) => x.select(1, x.shape[1] - 1).clone();

    /// <summary>
    /// The zero state of the matrix-valued versions (v5, v6, v7): per layer two token-shift vectors <c>[B, C]</c> and
    /// the WKV state <c>[B, H, N, N]</c>. Which shift is which is the version's convention.
    /// </summary>
    public static RwkvState MatrixValuedZeroState(RwkvConfig config, int batchSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        int c = config.EmbeddingSize, h = config.HeadCount, n = config.HeadSize;
        var layers = new Tensor[config.LayerCount][];
        for (int i = 0; i < layers.Length; i++)
        {
            layers[i] =
            [
                torch.zeros(batchSize, c).DetachFromDisposeScope(),
                torch.zeros(batchSize, c).DetachFromDisposeScope(),
                torch.zeros(batchSize, h, n, n).DetachFromDisposeScope(),
            ];
        }
        return new RwkvState(batchSize, layers);
    }

    /// <summary>x · Wᵀ for a weight in PyTorch's <c>[out, in]</c> layout.</summary>
    public static Tensor Linear(Tensor x, Tensor weight) => nn.functional.linear(x, weight);
}
