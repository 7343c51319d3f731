using RwkvQuant.Models;
using RwkvQuant.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace RwkvQuant.Calibration;

/// <summary>
/// Collects, per linear weight of a model, the Hessian H = (2/N)·Σ x xᵀ of the inputs x that the weight's
/// <c>[out, in]</c> matrix sees when calibration samples run through a network. Weights used as x·W (LoRA matrices)
/// are counted in their transposed <c>[out, in]</c> form; v6 <c>time_maa_w2</c> <c>[5, D, C]</c> is the <c>[C, 5D]</c>
/// matrix of its five transposed slices, whose Hessian is block-diagonal (each slice sees only its own D inputs), so
/// the off-diagonal blocks are zero.
/// <para>
/// One pass over the model as it is (<see cref="Collect(RwkvNetwork, CalibrationData, IProgress{CalibrationProgress}?, CancellationToken)"/>)
/// gives every Hessian at once. For GPTQ's sequential mode, collect one block at a time
/// (<see cref="ForBlock"/>) on a network whose earlier blocks are already quantized.
/// </para>
/// Not thread-safe. Disposing releases the accumulators.
/// </summary>
public sealed class HessianCollector : IDisposable, INetworkObserver
{
    private readonly Dictionary<string, LinearWeight> _weights = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HessianAccumulator> _accumulators = new(StringComparer.Ordinal);
    private bool _disposed;

    /// <summary>A collector for the linear weights of <paramref name="model"/> named in <paramref name="weightNames"/>
    /// (canonical keys), or for all of them (every block and the head) when null.</summary>
    /// <exception cref="ArgumentException">A name is not a linear weight of the model.</exception>
    public HessianCollector(RwkvModel model, IEnumerable<string>? weightNames = null)
        : this(Select(model, weightNames))
    {
    }

    private HessianCollector(IEnumerable<LinearWeight> weights)
    {
        foreach (LinearWeight weight in weights)
            _weights[weight.Name] = weight;
    }

    /// <summary>A collector for the linear weights of block <paramref name="block"/> only.</summary>
    /// <exception cref="ArgumentOutOfRangeException">No such block.</exception>
    public static HessianCollector ForBlock(RwkvModel model, int block)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentOutOfRangeException.ThrowIfNegative(block);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(block, model.Config.LayerCount);
        return new HessianCollector(LinearWeights.Of(model).Where(w => w.Block == block));
    }

    /// <summary>Runs <paramref name="model"/> over <paramref name="data"/> once and returns the Hessian of every
    /// linear weight (or of those named in <paramref name="weightNames"/>).</summary>
    public static IReadOnlyDictionary<string, Hessian> Collect(RwkvModel model, CalibrationData data,
        IEnumerable<string>? weightNames = null, IProgress<CalibrationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        using RwkvNetwork network = RwkvNetwork.Create(model);
        using var collector = new HessianCollector(model, weightNames);
        collector.Collect(network, data, progress, cancellationToken);
        return collector.Build();
    }

    /// <summary>The canonical names of the weights this collector accumulates.</summary>
    public IReadOnlyCollection<string> WeightNames => _weights.Keys;

    /// <summary>Runs every sample of <paramref name="data"/> through <paramref name="network"/> (in batches of
    /// <see cref="CalibrationOptions.BatchSize"/>, each from the empty state) and accumulates the inputs.</summary>
    /// <exception cref="OperationCanceledException">Cancelled between batches.</exception>
    public void Collect(RwkvNetwork network, CalibrationData data, IProgress<CalibrationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        CalibrationRunner.Run(network, data, this, progress, cancellationToken);
    }

    /// <summary>The Hessian of every weight, by canonical name.</summary>
    /// <exception cref="InvalidOperationException">A weight never saw an input (the message names it).</exception>
    public IReadOnlyDictionary<string, Hessian> Build() =>
        _weights.Keys.ToDictionary(name => name, Build, StringComparer.Ordinal);

    /// <summary>
    /// The Hessian of every weight, as <see cref="Build()"/>, freeing each weight's accumulator as soon as its Hessian
    /// is built, so that accumulators and Hessians are not all held at once. The collector accumulates nothing more.
    /// </summary>
    /// <exception cref="InvalidOperationException">A weight never saw an input (the message names it).</exception>
    public IReadOnlyDictionary<string, Hessian> BuildAndRelease()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var built = new Dictionary<string, Hessian>(StringComparer.Ordinal);
        foreach (string name in _weights.Keys)
        {
            built.Add(name, Build(name));
            _accumulators.Remove(name, out HessianAccumulator? accumulator);
            accumulator?.Dispose();
        }
        Dispose();
        return built;
    }

    /// <summary>The Hessian of the weight <paramref name="weightName"/>.</summary>
    /// <exception cref="InvalidOperationException">The weight never saw an input.</exception>
    public Hessian Build(string weightName)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_weights.TryGetValue(weightName, out LinearWeight? weight))
            throw new ArgumentException($"This collector does not accumulate '{weightName}'.", nameof(weightName));
        if (!_accumulators.TryGetValue(weightName, out HessianAccumulator? accumulator))
            throw new InvalidOperationException($"'{weightName}' saw no calibration input; was the network run on this model's architecture?");
        Hessian full = accumulator.Build();
        return weight.DiagonalBlocks == 1 ? full : BlockDiagonal(full, weight.DiagonalBlocks);
    }

    void INetworkObserver.OnLinearInput(string weightName, Tensor input)
    {
        if (!_weights.TryGetValue(weightName, out LinearWeight? weight))
            return;
        if (!_accumulators.TryGetValue(weightName, out HessianAccumulator? accumulator))
        {
            accumulator = new HessianAccumulator(weight.Columns);
            _accumulators.Add(weightName, accumulator);
        }
        if (input.shape[^1] != weight.Columns)
            throw new InvalidOperationException($"'{weightName}' is [{weight.Rows}, {weight.Columns}] but its input is [{string.Join(", ", input.shape)}]; the network and the model disagree.");
        accumulator.Add(input);
    }

    void INetworkObserver.OnMultiplyOperand(string vectorName, Tensor operand)
    {
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        foreach (HessianAccumulator accumulator in _accumulators.Values)
            accumulator.Dispose();
        _accumulators.Clear();
    }

    private static IEnumerable<LinearWeight> Select(RwkvModel model, IEnumerable<string>? names)
    {
        ArgumentNullException.ThrowIfNull(model);
        IReadOnlyList<LinearWeight> all = LinearWeights.Of(model);
        if (names is null)
            return all;
        var byName = all.ToDictionary(w => w.Name, StringComparer.Ordinal);
        var selected = new List<LinearWeight>();
        foreach (string name in names)
        {
            if (!byName.TryGetValue(name, out LinearWeight? weight))
                throw new ArgumentException($"'{name}' is not a linear weight of the model.", nameof(names));
            selected.Add(weight);
        }
        return selected;
    }

    /// <summary>H with every entry outside the <paramref name="blocks"/> equal diagonal blocks set to zero.</summary>
    private static Hessian BlockDiagonal(Hessian full, int blocks)
    {
        int n = full.Size, width = n / blocks;
        double[] values = full.Values.ToArray();
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
            {
                if (i / width != j / width)
                    values[(long)i * n + j] = 0;
            }
        }
        return new Hessian(n, values, full.SampleCount);
    }
}
