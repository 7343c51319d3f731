using System.Numerics.Tensors;
using RwkvQuant.Formats;
using RwkvQuant.Quantization;

namespace RwkvQuant.Scalar.Rtn;

/// <summary>
/// Round-to-nearest per group (the baseline): each group's grid is fitted to the group's min/max (the range extended
/// to include 0) and every weight takes its nearest code, so each weight is within half a stored step of its value.
/// Ignores the Hessian. Stateless and thread-safe.
/// </summary>
public sealed class RoundToNearestQuantizer : IScalarQuantizer
{
    /// <summary>A quantizer with <paramref name="options"/> (<see cref="RoundToNearestOptions.Default"/> when null).</summary>
    public RoundToNearestQuantizer(RoundToNearestOptions? options = null) => Options = options ?? RoundToNearestOptions.Default;

    /// <summary>The options.</summary>
    public RoundToNearestOptions Options { get; }

    /// <inheritdoc />
    public string Name => $"rtn {(Options.Symmetric ? "s" : "a")}{Options.Bits} g{Options.GroupSize}{GroupScalarTensor.PrecisionSuffix(Options.ScalePrecision)}";

    /// <inheritdoc />
    public bool RequiresHessian => false;

    /// <inheritdoc />
    public long StoredBitsFor(int rows, int columns)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(columns, 1);
        return GroupScalarTensor.StoredBitsOf(rows, columns, Options.Bits, Options.GroupSize, Options.Symmetric, Options.ScalePrecision, permutation: false);
    }

    /// <inheritdoc cref="IScalarQuantizer.Quantize" />
    /// <returns>A <see cref="GroupScalarTensor"/>.</returns>
    public QuantizedTensor Quantize(TensorData weight, Hessian? hessian = null, CancellationToken cancellationToken = default)
    {
        WeightMatrix w = WeightMatrix.Read(weight);
        int bits = Options.Bits, groupSize = Options.GroupSize, maxCode = (1 << bits) - 1;
        int groupsPerRow = (w.Columns + groupSize - 1) / groupSize;
        var codes = new int[w.Values.Length];
        var scales = new float[(long)w.Rows * groupsPerRow];
        var zeros = new float[Options.Symmetric ? 0 : scales.Length];
        bool int6 = Options.ScalePrecision == ScalePrecision.Int6;
        int superBlocks = Int6Scales.SuperBlocks(groupsPerRow);
        var steps = new float[int6 ? w.Rows * superBlocks : 0];
        for (int row = 0; row < w.Rows; row++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (int6)
                FitSteps(w, row, steps.AsSpan(row * superBlocks, superBlocks));
            for (int group = 0; group < groupsPerRow; group++)
            {
                int start = group * groupSize, length = Math.Min(groupSize, w.Columns - start);
                ReadOnlySpan<float> values = w.Values.AsSpan(row * w.Columns + start, length);
                Span<int> groupCodes = codes.AsSpan(row * w.Columns + start, length);
                GroupGrid grid = int6
                    ? Int6Scales.Fit(TensorPrimitives.Min(values), TensorPrimitives.Max(values), bits, Options.Symmetric, steps[row * superBlocks + group / Int6Scales.SuperBlockGroups])
                    : FitGroup(w.Name, values);
                for (int i = 0; i < values.Length; i++)
                    groupCodes[i] = grid.Encode(values[i], maxCode);
                scales[row * groupsPerRow + group] = grid.Scale;
                if (!Options.Symmetric)
                    zeros[row * groupsPerRow + group] = grid.Zero;
            }
        }
        return new GroupScalarTensor(w.Name, w.Rows, w.Columns, "rtn", bits, groupSize, Options.Symmetric, Options.ScalePrecision, codes, scales, zeros, null, steps);
    }

    /// <summary>Each super-block's step of row <paramref name="row"/>: the one that lets its widest group fit.</summary>
    private void FitSteps(WeightMatrix w, int row, Span<float> steps)
    {
        int groupSize = Options.GroupSize, superColumns = groupSize * Int6Scales.SuperBlockGroups;
        for (int b = 0; b < steps.Length; b++)
        {
            double largest = 0;
            for (int start = b * superColumns; start < Math.Min(w.Columns, (b + 1) * superColumns); start += groupSize)
            {
                ReadOnlySpan<float> values = w.Values.AsSpan(row * w.Columns + start, Math.Min(groupSize, w.Columns - start));
                largest = Math.Max(largest, Int6Scales.IdealScale(TensorPrimitives.Min(values), TensorPrimitives.Max(values), Options.Bits, Options.Symmetric));
            }
            try
            {
                steps[b] = Int6Scales.Step(largest);
            }
            catch (ArgumentException e)
            {
                throw new ArgumentException($"Tensor '{w.Name}', row {row}: {e.Message}", e);
            }
        }
    }

    private GroupGrid FitGroup(string name, ReadOnlySpan<float> values)
    {
        try
        {
            return GroupGrid.Fit(TensorPrimitives.Min(values), TensorPrimitives.Max(values), Options.Bits, Options.Symmetric, Options.ScalePrecision);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"Tensor '{name}': {e.Message}", e);
        }
    }
}
