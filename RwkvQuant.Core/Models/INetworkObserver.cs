using static TorchSharp.torch;

namespace RwkvQuant.Models;

/// <summary>
/// Sees the activations that quantization statistics are built from, as a forward pass computes them
/// (<see cref="RwkvNetwork"/>'s internal observed forward). Called synchronously on the forward's thread, inside its
/// dispose scope: the tensors are the network's own temporaries, valid only during the call; read them, never keep or
/// dispose them (clone what must outlive the call).
/// </summary>
internal interface INetworkObserver
{
    /// <summary>
    /// The input of one linear projection. <paramref name="weightName"/> is the canonical key of the weight
    /// (<c>blocks.3.att.key.weight</c>, <c>blocks.0.att.time_maa_w1</c>, <c>head.weight</c>, …) and
    /// <paramref name="input"/> is <c>[B, T, in]</c>, where <c>in</c> is the column count of the weight's
    /// <c>[out, in]</c> form (see <see cref="LinearWeights"/> for how each canonical tensor maps to that form).
    /// Every linear weight is reported exactly once per forward call.
    /// </summary>
    void OnLinearInput(string weightName, Tensor input);

    /// <summary>
    /// The other operand of an element-wise multiplication by a model vector μ (token-shift mixes and friends):
    /// <paramref name="vectorName"/> is μ's canonical key and <paramref name="operand"/> <c>[B, T, C]</c> the tensor x
    /// with the site's output y = x ⊙ μ (+ terms that do not involve μ), so an error Δμ changes y by x ⊙ Δμ.
    /// Reported once per site per forward call.
    /// </summary>
    void OnMultiplyOperand(string vectorName, Tensor operand);

    /// <summary>
    /// The inputs and results of one layer's WKV recurrence (v6 and v7 only), so that kernels can be held to the
    /// network's own math. <paramref name="layerPrefix"/> is <c>blocks.{i}.</c>. Most observers ignore it (the default).
    /// </summary>
    void OnWkv(string layerPrefix, WkvTrace trace)
    {
    }
}

/// <summary>
/// One WKV call as a network ran it. Per-token tensors are <c>[B, T, H, N]</c>, states <c>[B, H, N, N]</c>. v6 sets
/// <see cref="Bonus"/> (u <c>[H, N]</c>); v7 sets <see cref="Z"/> (−κ̂) and <see cref="B"/> (κ̂ ⊙ a).
/// </summary>
internal sealed record WkvTrace(Tensor R, Tensor W, Tensor K, Tensor V, Tensor? Bonus, Tensor? Z, Tensor? B,
    Tensor InitialState, Tensor Output, Tensor FinalState);
