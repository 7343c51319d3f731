using TorchSharp;
using static RwkvQuant.Models.LegacyBlockOps;
using static RwkvQuant.Models.RwkvOps;
using static RwkvQuant.Native.TorchScalars;
using static TorchSharp.torch;

namespace RwkvQuant.Models;

/// <summary>
/// What RWKV-4 and RWKV-5.x share, as rwkv.cpp computes them: the embedding with <c>ln0</c>, per block
/// <c>x += TimeMix(LN1(x))</c> then <c>x += ChannelMix(LN2(x))</c> (the squared-ReLU channel mix of
/// <see cref="LegacyBlockOps"/>), and <c>ln_out</c> with the head. The versions differ only in their time mix. State
/// slot <see cref="FfnShift"/> holds the channel mix's token shift and <see cref="AttShift"/> the time mix's.
/// </summary>
internal abstract class LegacyRwkvNetwork<TLayer> : RwkvNetwork where TLayer : LegacyBlock
{
    protected const int FfnShift = 0;
    protected const int AttShift = 1;

    private readonly NetworkWeights<TLayer> _weights;

    /// <summary>A network over <paramref name="model"/>; block i is made by <paramref name="createLayer"/> the first
    /// time it runs, the embedding and the head likewise (<see cref="NetworkWeights{TLayer}"/>).</summary>
    protected LegacyRwkvNetwork(RwkvModel model, Func<int, TLayer> createLayer) : base(model.Config) =>
        _weights = new NetworkWeights<TLayer>(model, createLayer);

    /// <summary>
    /// The time mix of block <paramref name="index"/> over x <c>[B, T, C]</c> (already layer-normed): its output, with
    /// the block's time-mix state (<paramref name="s"/> = <c>state.Layer(index)</c>) advanced through
    /// <paramref name="state"/>.
    /// </summary>
    protected abstract Tensor TimeMix(Tensor x, TLayer layer, RwkvState state, int index, Tensor[] s);

    private protected override Tensor Embed(Tensor tokens)
    {
        long batch = tokens.shape[0], length = tokens.shape[1];
        EndWeights input = _weights.Input;
        using Tensor flat = tokens.reshape(-1);
        using Tensor rows = input.Matrix.index_select(0, flat);
        using Tensor x = rows.reshape(batch, length, -1);
        return LayerNorm(x, input.NormWeight, input.NormBias);
    }

    private protected override Tensor RunBlock(int block, Tensor x, RwkvState state, BlockCarry carry)
    {
        using var layerScope = torch.NewDisposeScope(); // frees the layer's temporaries; state tensors are detached
        TLayer layer = _weights.Layer(block);
        Tensor[] s = state.Layer(block);
        x = x.add(TimeMix(LayerNorm(x, layer.Ln1Weight, layer.Ln1Bias), layer, state, block, s), One);
        Tensor xx = LayerNorm(x, layer.Ln2Weight, layer.Ln2Bias);
        Tensor previous = Shift(xx, s[FfnShift]);
        state.Set(block, FfnShift, Last(xx));
        return x.add(ChannelMix(xx, previous, layer.Ffn, Observe(layer.Ffn.Prefix)), One).MoveToOuterDisposeScope();
    }

    private protected override Tensor Head(Tensor x)
    {
        EndWeights output = _weights.Output;
        x = LayerNorm(x, output.NormWeight, output.NormBias);
        return Observe("").Linear(x, output.Matrix, "head.weight");
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (!disposing)
            return;
        _weights.Dispose();
    }
}

/// <summary>
/// The weights every v4/v5 block has: its two layer norms and its channel mix. A version's block adds its time-mix
/// weights, registering each tensor with <see cref="Own"/> so that <see cref="Dispose"/> releases it.
/// </summary>
internal abstract class LegacyBlock : IDisposable
{
    private readonly List<Tensor> _owned = [];

    protected LegacyBlock(RwkvModel model, int index)
    {
        int c = model.Config.EmbeddingSize;
        Prefix = $"blocks.{index}.";
        Ln1Weight = Own(Weight(model, Prefix + "ln1.weight", c));
        Ln1Bias = Own(Weight(model, Prefix + "ln1.bias", c));
        Ln2Weight = Own(Weight(model, Prefix + "ln2.weight", c));
        Ln2Bias = Own(Weight(model, Prefix + "ln2.bias", c));
        Ffn = new ChannelMixWeights(model, index);
    }

    /// <summary><c>blocks.{i}.</c>, the start of this block's tensor names.</summary>
    public string Prefix { get; }
    public Tensor Ln1Weight { get; }
    public Tensor Ln1Bias { get; }
    public Tensor Ln2Weight { get; }
    public Tensor Ln2Bias { get; }
    public ChannelMixWeights Ffn { get; }

    /// <summary>Registers <paramref name="tensor"/> for disposal with this block and returns it.</summary>
    protected Tensor Own(Tensor tensor)
    {
        _owned.Add(tensor);
        return tensor;
    }

    public void Dispose()
    {
        foreach (Tensor t in _owned)
            t.Dispose();
        Ffn.Dispose();
    }
}
