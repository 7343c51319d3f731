using System.Globalization;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using RwkvQuant.Formats;
using RwkvQuant.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace RwkvQuant.Scalar.Gptq;

/// <summary>
/// GPTQ (Frantar et al., 2023, <c>gptq.py</c>): quantizes the columns of W one at a time and feeds each column's
/// error forward onto the columns not yet quantized, weighted by the inverse Hessian, so that the layer's output
/// error tr((W − Q) H (W − Q)ᵀ) stays small. Stateless and thread-safe.
/// </summary>
/// <remarks>
/// Steps, in the paper's symbols: dead inputs (H_ii = 0) get H_ii = 1 and W[:, i] = 0; with act-order, columns are
/// permuted by descending diag(H); U = chol((H + λI)⁻¹)ᵀ (upper), λ = p·mean(diag H); then for each block of B columns
/// and each column i in it: at a group start, fit each row's grid (<see cref="GroupGrid"/>, min/max, as
/// round-to-nearest does) to the group's current, error-updated weights; q = quant(w_i); err = (w_i − q) / U_ii;
/// w_j −= err·U_ij for the later columns j of the block; after the block, the later blocks receive
/// W[:, after] −= Err·U[block, after] at once (the lazy batch update). With H = c·I, U is diagonal, no error is fed
/// forward and the result equals round-to-nearest's.
/// Unlike <c>gptq.py</c>, a group that starts inside a block is fitted to weights that include the updates of the
/// block's earlier columns (also for its columns past the block end), so the grid always sees the current weights.
/// </remarks>
public sealed class GptqQuantizer : IScalarQuantizer
{
    /// <summary>A quantizer with <paramref name="options"/> (<see cref="GptqOptions.Default"/> when null).</summary>
    public GptqQuantizer(GptqOptions? options = null) => Options = options ?? GptqOptions.Default;

    /// <summary>The options.</summary>
    public GptqOptions Options { get; }

    /// <inheritdoc />
    public string Name => $"gptq {(Options.Symmetric ? "s" : "a")}{Options.Bits} g{Options.GroupSize}{GroupScalarTensor.PrecisionSuffix(Options.ScalePrecision)}{(Options.ActOrder ? " act-order" : "")}{(Options.ClipSearch ? " clip-search" : "")}";

    /// <inheritdoc />
    public bool RequiresHessian => true;

    /// <inheritdoc />
    public long StoredBitsFor(int rows, int columns)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(columns, 1);
        return GroupScalarTensor.StoredBitsOf(rows, columns, Options.Bits, Options.GroupSize, Options.Symmetric, Options.ScalePrecision, Options.ActOrder);
    }

    /// <inheritdoc cref="IScalarQuantizer.Quantize" />
    /// <returns>A <see cref="GroupScalarTensor"/>; its notes say when dead columns were zeroed or damping was raised.</returns>
    /// <exception cref="InvalidOperationException">The Hessian could not be factored at any damping, or the error
    /// feedback produced non-finite weights.</exception>
    public QuantizedTensor Quantize(TensorData weight, Hessian? hessian = null, CancellationToken cancellationToken = default)
    {
        WeightMatrix w = WeightMatrix.Read(weight);
        if (hessian is null)
            throw new ArgumentException($"GPTQ needs the Hessian of tensor '{w.Name}'.", nameof(hessian));
        if (hessian.Size != w.Columns)
            throw new ArgumentException($"Tensor '{w.Name}' has {w.Columns} columns but its Hessian is {hessian.Size}×{hessian.Size}.", nameof(hessian));

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        int rows = w.Rows, columns = w.Columns;
        var notes = new List<string>();
        Tensor h = hessian.ToTensor(); // [columns, columns] float64
        float[] values = (float[])w.Values.Clone(); // [rows, columns]

        bool[] deadColumns = InverseHessianFactor.ReviveDeadColumns(h);
        int dead = 0;
        for (int i = 0; i < columns; i++)
        {
            if (!deadColumns[i])
                continue;
            dead++;
            for (int row = 0; row < rows; row++)
                values[(long)row * columns + i] = 0;
        }
        double[] diagonal;
        using (NewDisposeScope()) // the view would keep this copy of H alive after act-order replaces it
            diagonal = h.diagonal().contiguous().data<double>().ToArray();
        if (dead > 0)
            notes.Add($"{dead} dead column(s) (H_ii = 0) set to zero (their inputs are always zero).");

        int[]? permutation = null;
        Tensor wt = tensor(values, [rows, columns]).t(); // [columns, rows]: storage column k is row k
        if (Options.ActOrder)
        {
            // Descending diag(H); ties keep the original order, so the permutation is deterministic.
            permutation = Enumerable.Range(0, columns).OrderByDescending(i => diagonal[i]).ToArray();
            Tensor index = tensor(permutation.Select(i => (long)i).ToArray());
            wt = wt.index_select(0, index);
            Tensor rowsPermuted = h.index_select(0, index);
            h.Dispose(); // each n×n float64 copy goes as soon as the next exists
            h = rowsPermuted.index_select(1, index);
            rowsPermuted.Dispose();
        }
        wt = wt.contiguous();

        Tensor upper64 = InverseHessianFactor.ComputeConsuming(h, Options.DampingPercent, Options.MaxDampingAttempts, w.Name, notes); // frees h
        Tensor upper = upper64.to(ScalarType.Float32); // U [columns, columns]
        upper64.Dispose();
        var result = new Result(rows, columns, Options);
        for (int start = 0; start < columns; start += Options.BlockSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int end = Math.Min(start + Options.BlockSize, columns);
            QuantizeBlock(w.Name, wt, upper, start, end, result);
        }

        return new GroupScalarTensor(w.Name, rows, columns, "gptq", Options.Bits, Options.GroupSize, Options.Symmetric,
            Options.ScalePrecision, result.Codes, result.Scales, result.Zeros, permutation, result.Steps)
        { Notes = notes };
    }

    /// <summary>Quantizes columns [start, end) of <paramref name="wt"/> (<c>[columns, rows]</c>, updated in place for the
    /// columns after the block) and applies the block's lazy update to the later columns.</summary>
    private void QuantizeBlock(string name, Tensor wt, Tensor upper, int start, int end, Result result)
    {
        using var scope = NewDisposeScope();
        int rows = result.Rows, columns = result.Columns, count = end - start, maxCode = (1 << Options.Bits) - 1;
        float[] block = wt.narrow(0, start, count).contiguous().data<float>().ToArray(); // W1 [count, rows]
        float[] u = upper.narrow(0, start, count).narrow(1, start, count).contiguous().data<float>().ToArray(); // U1 [count, count]
        var errors = new float[count * rows]; // Err1 [count, rows]
        GroupGrid[] grids = result.Grids; // the current group's grid per row; a group may span blocks
        for (int i = 0; i < count; i++)
        {
            int column = start + i;
            if (Options.ScalePrecision == ScalePrecision.Int6 && column % (Options.GroupSize * Int6Scales.SuperBlockGroups) == 0)
                FitSteps(name, wt, upper, block, errors, start, end, i, result);
            if (column % Options.GroupSize == 0)
                FitGroup(name, wt, upper, block, errors, start, end, i, grids, result);
            Span<float> w = block.AsSpan(i * rows, rows);
            Span<float> error = errors.AsSpan(i * rows, rows);
            float d = u[i * count + i];
            for (int row = 0; row < rows; row++)
            {
                int code = grids[row].Encode(w[row], maxCode);
                result.Codes[(long)row * columns + column] = code;
                error[row] = (w[row] - grids[row].Decode(code)) / d;
            }
            for (int j = i + 1; j < count; j++)
            {
                Span<float> later = block.AsSpan(j * rows, rows);
                TensorPrimitives.MultiplyAdd(error, -u[i * count + j], later, later); // w_j −= err·U_ij
            }
        }
        if (!TensorPrimitives.IsFiniteAll<float>(errors))
            throw new InvalidOperationException($"Tensor '{name}': GPTQ's error feedback produced non-finite weights in columns {start}..{end - 1}.");
        if (end < columns)
        {
            Tensor err = tensor(errors, [count, rows]);
            // W[:, end:] −= Err1 · U[start:end, end:], in the transposed layout.
            wt.narrow(0, end, columns - end).sub_(upper.narrow(0, start, count).narrow(1, end, columns - end).t().matmul(err));
        }
    }

    /// <summary>Fits each row's grid to the group starting at block column <paramref name="i"/>, from the current weights
    /// (see <see cref="CurrentColumns"/>); with <see cref="ScalePrecision.Int6"/>, on the row's step for this super-block.</summary>
    private void FitGroup(string name, Tensor wt, Tensor upper, float[] block, float[] errors, int start, int end, int i, GroupGrid[] grids, Result result)
    {
        int rows = result.Rows, column = start + i;
        int groupEnd = Math.Min(column + Options.GroupSize, result.Columns);
        float[] values = CurrentColumns(wt, upper, block, errors, start, end, i, groupEnd, rows); // [groupEnd − column, rows]
        int group = column / Options.GroupSize, superBlock = group / Int6Scales.SuperBlockGroups, width = groupEnd - column;
        var (min, max) = Options.ClipSearch ? (null, null) : RowRanges(values, rows);
        var rowValues = new float[Options.ClipSearch ? width : 0];
        for (int row = 0; row < rows; row++)
        {
            try
            {
                float step = Options.ScalePrecision == ScalePrecision.Int6 ? result.Steps[(long)row * result.SuperBlocksPerRow + superBlock] : 0;
                if (Options.ClipSearch)
                {
                    for (int c = 0; c < width; c++)
                        rowValues[c] = values[c * rows + row];
                    grids[row] = GroupGrid.Search(rowValues, Options.Bits, (lo, hi) => FitRange(lo, hi, step));
                }
                else
                {
                    grids[row] = FitRange(min![row], max![row], step);
                }
            }
            catch (ArgumentException e)
            {
                throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture, $"Tensor '{name}', row {row}, group {group}: {e.Message}"), e);
            }
            result.Scales[(long)row * result.GroupsPerRow + group] = grids[row].Scale;
            if (!Options.Symmetric)
                result.Zeros[(long)row * result.GroupsPerRow + group] = grids[row].Zero;
        }
    }

    /// <summary>The grid of values in [<paramref name="low"/>, <paramref name="high"/>]: on <paramref name="step"/> with
    /// <see cref="ScalePrecision.Int6"/>, else rounded to the scale precision.</summary>
    private GroupGrid FitRange(double low, double high, float step) => Options.ScalePrecision == ScalePrecision.Int6
        ? Int6Scales.Fit(low, high, Options.Bits, Options.Symmetric, step)
        : GroupGrid.Fit(low, high, Options.Bits, Options.Symmetric, Options.ScalePrecision);

    /// <summary>
    /// Each row's FP16 step for the super-block starting at block column <paramref name="i"/>: the step that lets the
    /// widest of its groups fit, as the current weights stand (the groups fitted later have taken more error feedback by
    /// then, and a group that outgrows 63 steps is clipped).
    /// </summary>
    private void FitSteps(string name, Tensor wt, Tensor upper, float[] block, float[] errors, int start, int end, int i, Result result)
    {
        int rows = result.Rows, column = start + i, superBlock = column / (Options.GroupSize * Int6Scales.SuperBlockGroups);
        int superEnd = Math.Min(column + Options.GroupSize * Int6Scales.SuperBlockGroups, result.Columns);
        float[] values = CurrentColumns(wt, upper, block, errors, start, end, i, superEnd, rows); // [superEnd − column, rows]
        var largest = new double[rows];
        for (int groupStart = 0; groupStart < superEnd - column; groupStart += Options.GroupSize)
        {
            int width = Math.Min(Options.GroupSize, superEnd - column - groupStart);
            var (min, max) = RowRanges(values.AsSpan(groupStart * rows, width * rows), rows);
            for (int row = 0; row < rows; row++)
                largest[row] = Math.Max(largest[row], Int6Scales.IdealScale(min[row], max[row], Options.Bits, Options.Symmetric));
        }
        for (int row = 0; row < rows; row++)
        {
            try
            {
                result.Steps[(long)row * result.SuperBlocksPerRow + superBlock] = Int6Scales.Step(largest[row]);
            }
            catch (ArgumentException e)
            {
                throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture, $"Tensor '{name}', row {row}, super-block {superBlock}: {e.Message}"), e);
            }
        }
    }

    /// <summary>
    /// Columns [start + <paramref name="i"/>, <paramref name="rangeEnd"/>) as the weights stand when block column i is
    /// reached, <c>[columns, rows]</c>: block columns as updated so far, and later columns with the pending updates of
    /// block columns 0..i−1.
    /// </summary>
    private static float[] CurrentColumns(Tensor wt, Tensor upper, float[] block, float[] errors, int start, int end, int i,
        int rangeEnd, int rows)
    {
        int from = start + i;
        var values = new float[(rangeEnd - from) * rows];
        int inBlock = Math.Max(0, Math.Min(rangeEnd, end) - from);
        if (inBlock > 0)
            block.AsSpan((from - start) * rows, inBlock * rows).CopyTo(values);
        if (rangeEnd > end)
        {
            int laterStart = Math.Max(from, end);
            using var scope = NewDisposeScope();
            Tensor later = wt.narrow(0, laterStart, rangeEnd - laterStart); // [later, rows]
            if (i > 0)
            {
                Tensor err = tensor(errors.AsSpan(0, i * rows).ToArray(), [i, rows]);
                later = later - upper.narrow(0, start, i).narrow(1, laterStart, rangeEnd - laterStart).t().matmul(err);
            }
            later.contiguous().data<float>().CopyTo(values, (laterStart - from) * rows);
        }
        return values;
    }

    /// <summary>Each row's min and max over <paramref name="values"/> <c>[columns, rows]</c>.</summary>
    private static (float[] Min, float[] Max) RowRanges(ReadOnlySpan<float> values, int rows)
    {
        var min = new float[rows];
        var max = new float[rows];
        min.AsSpan().Fill(float.PositiveInfinity);
        max.AsSpan().Fill(float.NegativeInfinity);
        for (int c = 0; c < values.Length / rows; c++)
        {
            ReadOnlySpan<float> w = values.Slice(c * rows, rows);
            TensorPrimitives.Min(min, w, min);
            TensorPrimitives.Max(max, w, max);
        }
        return (min, max);
    }

    /// <summary>The codes, scales and zeros being filled in.</summary>
    private sealed class Result(int rows, int columns, GptqOptions options)
    {
        public int Rows { get; } = rows;

        public int Columns { get; } = columns;

        public int GroupsPerRow { get; } = (columns + options.GroupSize - 1) / options.GroupSize;

        public int[] Codes { get; } = new int[(long)rows * columns];

        public GroupGrid[] Grids { get; } = new GroupGrid[rows];

        public float[] Scales { get; } = new float[(long)rows * ((columns + options.GroupSize - 1) / options.GroupSize)];

        public float[] Zeros { get; } = new float[options.Symmetric ? 0 : (long)rows * ((columns + options.GroupSize - 1) / options.GroupSize)];

        /// <summary>Super-blocks per row with <see cref="ScalePrecision.Int6"/>, else 0.</summary>
        public int SuperBlocksPerRow { get; } = SuperBlocksOf(columns, options);

        /// <summary>The FP16 steps <c>[rows, SuperBlocksPerRow]</c> with <see cref="ScalePrecision.Int6"/>.</summary>
        public float[] Steps { get; } = new float[(long)rows * SuperBlocksOf(columns, options)];

        private static int SuperBlocksOf(int columns, GptqOptions options) => options.ScalePrecision == ScalePrecision.Int6
            ? Int6Scales.SuperBlocks((columns + options.GroupSize - 1) / options.GroupSize) : 0;
    }
}
