using TorchSharp;
using static TorchSharp.torch;

namespace RwkvQuant.Models;

/// <summary>
/// A runnable RWKV network (float32, TorchSharp, CPU) built from an <see cref="RwkvModel"/>. Two modes:
/// sequence mode (<see cref="Forward"/>: a batch of token sequences at once, for calibration and perplexity)
/// and recurrent mode (<see cref="ForwardStep"/>: one token per sequence with a carried state, for generation).
/// Both compute the same function: feeding a sequence in one call or token by token gives the same logits.
/// </summary>
public abstract class RwkvNetwork : IDisposable
{
    /// <summary>Creates the network for the model's version. The model's tensors are copied into torch tensors.</summary>
    public static RwkvNetwork Create(RwkvModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return model.Config.Version switch
        {
            RwkvVersion.V6 => new Rwkv6Network(model),
            RwkvVersion.V7 => new Rwkv7Network(model),
            _ => throw new NotSupportedException($"RWKV version {model.Config.Version} has no forward pass yet."),
        };
    }

    /// <summary>Base constructor.</summary>
    protected RwkvNetwork(RwkvConfig config) => Config = config;

    /// <summary>The architecture.</summary>
    public RwkvConfig Config { get; }

    /// <summary>A zero state for <paramref name="batchSize"/> sequences (the "empty state" of rwkv.cpp).</summary>
    public abstract RwkvState CreateState(int batchSize = 1);

    /// <summary>
    /// Sequence mode. <paramref name="tokens"/>: int64 <c>[B, T]</c>. Returns float32 logits <c>[B, T, V]</c>
    /// (a fresh tensor the caller owns). When <paramref name="state"/> is given it is read as the state before
    /// the first token and advanced to the state after the last; otherwise the sequences start from zero state.
    /// </summary>
    public abstract Tensor Forward(Tensor tokens, RwkvState? state = null);

    /// <summary>
    /// Recurrent mode. <paramref name="tokens"/>: int64 <c>[B]</c>, one token per sequence. Returns float32
    /// logits <c>[B, V]</c> and advances <paramref name="state"/> by one token.
    /// </summary>
    public abstract Tensor ForwardStep(Tensor tokens, RwkvState state);

    /// <summary>Releases the network's tensors.</summary>
    protected abstract void Dispose(bool disposing);

    /// <inheritdoc />
    public void Dispose()
    {
        Dispose(disposing: true);
        GC.SuppressFinalize(this);
    }
}
