using static RwkvQuant.Native.TorchScalars;
using static TorchSharp.torch;

namespace RwkvQuant.Models;

/// <summary>
/// The operations of one block that an <see cref="INetworkObserver"/> may watch, each reporting its input under the
/// weight's name before it computes, so a network's math reads like <c>rwkv_v7_numpy.py</c>:
/// <c>r = op.Linear(op.Mix(x, dx, l.Xr, "att.x_r"), l.Receptance, "att.receptance.weight")</c>. Names are the
/// weights' names within the block (the block's prefix is added only when someone listens, so without an observer
/// nothing but the tensor operation runs). Each operation is exactly the libtorch call the network made before
/// observation moved here, so results are bit-identical.
/// </summary>
internal readonly struct ObservedOps(INetworkObserver? observer, string prefix)
{
    /// <summary>x·Wᵀ for a weight stored <c>[out, in]</c>; x is reported as the weight's input.</summary>
    public Tensor Linear(Tensor x, Tensor weight, string name)
    {
        observer?.OnLinearInput(prefix + name, x);
        return RwkvOps.Linear(x, weight);
    }

    /// <summary>x·F for a LoRA factor stored <c>[in, out]</c> (BlinkDL's <c>w1</c>/<c>w2</c> layout); x is reported
    /// as the factor's input.</summary>
    public Tensor Lora(Tensor x, Tensor factor, string name)
    {
        observer?.OnLinearInput(prefix + name, x);
        return x.matmul(factor);
    }

    /// <summary>The token-shift mix x + dx ⊙ μ; dx is reported as μ's operand.</summary>
    public Tensor Mix(Tensor x, Tensor dx, Tensor mu, string name)
    {
        observer?.OnMultiplyOperand(prefix + name, dx);
        return x.add(dx * mu, One);
    }

    /// <summary>RWKV-4/5's mix x·μ + previous·(1 − μ) as rwkv.cpp computes it (<see cref="LegacyBlockOps.Mix"/>); it
    /// equals previous + (x − previous) ⊙ μ, so x − previous is reported as μ's operand (computed only when someone
    /// listens).</summary>
    public Tensor Lerp(Tensor x, Tensor previous, Tensor mu, Tensor oneMinusMu, string name)
    {
        if (observer is not null)
            observer.OnMultiplyOperand(prefix + name, x - previous);
        return LegacyBlockOps.Mix(x, previous, mu, oneMinusMu);
    }

    /// <summary>operand ⊙ v for an element-wise multiplication vector; the operand is reported.</summary>
    public Tensor Multiply(Tensor operand, Tensor vector, string name)
    {
        observer?.OnMultiplyOperand(prefix + name, operand);
        return operand * vector;
    }

    /// <summary>Reports <paramref name="x"/> as the input of the matrix <paramref name="name"/> where the network
    /// multiplies it in a form <see cref="Linear"/> and <see cref="Lora"/> do not have.</summary>
    public void Input(string name, Tensor x) => observer?.OnLinearInput(prefix + name, x);

    /// <summary>Reports the operand of the vector <paramref name="name"/> where the network's expression multiplies it
    /// in a form <see cref="Multiply"/> does not have; <paramref name="operand"/> is computed only when someone
    /// listens.</summary>
    public void Operand(string name, Func<Tensor> operand)
    {
        if (observer is not null)
            observer.OnMultiplyOperand(prefix + name, operand());
    }

    /// <summary>Reports one WKV recurrence's inputs, state and output.</summary>
    public void Wkv(WkvTrace trace) => observer?.OnWkv(prefix, trace);
}
