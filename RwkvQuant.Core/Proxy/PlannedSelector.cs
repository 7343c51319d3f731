using RwkvQuant.Formats;
using RwkvQuant.Quantization;

namespace RwkvQuant.Proxy;

/// <summary>
/// A selector that follows choices made in advance, by tensor name (a budget allocation's picks,
/// <see cref="Pipeline.HybridPlan.ForAllocation"/>). A weight without a planned choice is refused: a plan that misses a
/// matrix is a bug, not a default. Ignores the Hessian.
/// </summary>
public sealed class PlannedSelector : IQuantizationSelector
{
    private readonly Dictionary<string, QuantizationChoice> _choices;

    /// <summary>Creates the selector from choices by canonical tensor name (copied).</summary>
    public PlannedSelector(IReadOnlyDictionary<string, QuantizationChoice> choices, string name = "planned")
    {
        ArgumentNullException.ThrowIfNull(choices);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        _choices = new Dictionary<string, QuantizationChoice>(choices, StringComparer.Ordinal);
        Name = name;
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <summary>The planned choices by tensor name.</summary>
    public IReadOnlyDictionary<string, QuantizationChoice> Choices => _choices;

    /// <inheritdoc />
    /// <exception cref="ArgumentException">The weight has no planned choice.</exception>
    public QuantizationSelection Choose(TensorData weight, Hessian? hessian = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(weight);
        cancellationToken.ThrowIfCancellationRequested();
        return _choices.TryGetValue(weight.Name, out QuantizationChoice choice)
            ? new QuantizationSelection(choice)
            : throw new ArgumentException($"Tensor '{weight.Name}' has no planned choice (the plan covers {_choices.Count} matrices).", nameof(weight));
    }
}
