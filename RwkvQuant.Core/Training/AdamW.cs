using TorchSharp;
using static RwkvQuant.Native.TorchScalars;
using static TorchSharp.torch;

namespace RwkvQuant.Training;

/// <summary>
/// AdamW (Loshchilov &amp; Hutter), as <c>torch.optim.AdamW</c> computes it, written out so its state (the step and
/// the moments m, v of every parameter) can be checkpointed and restored exactly:
/// p ← p·(1 − lr·λ); m ← β₁m + (1 − β₁)g; v ← β₂v + (1 − β₂)g²; p ← p − lr·(m / (1 − β₁ᵗ)) / (√(v / (1 − β₂ᵗ)) + ε).
/// Decay λ applies to the parameters named in the constructor; a per-parameter learning-rate multiplier is allowed.
/// </summary>
internal sealed class AdamW : IDisposable
{
    private readonly IReadOnlyDictionary<string, Tensor> _parameters;
    private readonly Dictionary<string, (Tensor M, Tensor V)> _moments = new(StringComparer.Ordinal);
    private readonly Func<string, bool> _decays;
    private readonly Func<string, double> _rateMultiplier;
    private readonly double _beta1, _beta2, _epsilon, _weightDecay;

    public AdamW(IReadOnlyDictionary<string, Tensor> parameters, Rwkv7TrainingOptions options,
        Func<string, bool> decays, Func<string, double> rateMultiplier)
    {
        _parameters = parameters;
        _decays = decays;
        _rateMultiplier = rateMultiplier;
        (_beta1, _beta2, _epsilon, _weightDecay) = (options.Beta1, options.Beta2, options.Epsilon, options.WeightDecay);
        foreach ((string name, Tensor p) in parameters)
            _moments[name] = (zeros_like(p).DetachFromDisposeScope(), zeros_like(p).DetachFromDisposeScope());
    }

    /// <summary>Updates taken so far (t).</summary>
    public int StepCount { get; private set; }

    /// <summary>The moments of <paramref name="name"/> (owned by the optimizer).</summary>
    public (Tensor M, Tensor V) Moments(string name) => _moments[name];

    /// <summary>Replaces the state with checkpointed values (copied).</summary>
    public void Restore(int stepCount, Func<string, (float[] M, float[] V)> moments)
    {
        using var noGrad = no_grad();
        foreach ((string name, (Tensor m, Tensor v)) in _moments)
        {
            (float[] savedM, float[] savedV) = moments(name);
            using Tensor sm = tensor(savedM, m.shape), sv = tensor(savedV, v.shape);
            m.copy_(sm);
            v.copy_(sv);
        }
        StepCount = stepCount;
    }

    /// <summary>One update with learning rate <paramref name="learningRate"/> from the parameters' current gradients.</summary>
    public void Step(double learningRate)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        StepCount++;
        double correction1 = 1 - Math.Pow(_beta1, StepCount);
        using var beta1 = _beta1.ToScalar();
        using var oneMinusBeta1 = (1 - _beta1).ToScalar();
        using var beta2 = _beta2.ToScalar();
        using var oneMinusBeta2 = (1 - _beta2).ToScalar();
        using var correction2Sqrt = Math.Sqrt(1 - Math.Pow(_beta2, StepCount)).ToScalar();
        using var epsilon = _epsilon.ToScalar();
        foreach ((string name, Tensor p) in _parameters)
        {
            Tensor? g = p.grad;
            if (g is null)
                continue;
            double lr = learningRate * _rateMultiplier(name);
            (Tensor m, Tensor v) = _moments[name];
            if (_decays(name) && _weightDecay > 0)
            {
                using var decay = (1 - lr * _weightDecay).ToScalar();
                p.mul_(decay);
            }
            m.mul_(beta1).add_(g, alpha: oneMinusBeta1);
            v.mul_(beta2).addcmul_(g, g, value: oneMinusBeta2);
            Tensor denominator = (v.sqrt() / correction2Sqrt).add_(epsilon, One);
            using var stepSize = (-lr / correction1).ToScalar();
            p.addcdiv_(m, denominator, value: stepSize);
        }
    }

    public void Dispose()
    {
        foreach ((Tensor m, Tensor v) in _moments.Values)
        {
            m.Dispose();
            v.Dispose();
        }
        _moments.Clear();
    }
}
