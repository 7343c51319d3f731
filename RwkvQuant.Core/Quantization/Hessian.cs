using TorchSharp;
using static TorchSharp.torch;

namespace RwkvQuant.Quantization;

/// <summary>
/// The second-order statistic of a linear layer's inputs, H = (2/N)·Σₙ xₙ xₙᵀ over N calibration inputs
/// xₙ <c>[size]</c> — the Hessian of the layer's squared output error with respect to one row of its weight.
/// Immutable; built by a <see cref="HessianAccumulator"/>. Values are float64, row-major <c>[size, size]</c>, symmetric.
/// </summary>
public sealed class Hessian
{
    private readonly double[] _values;

    /// <summary>Wraps <paramref name="values"/> (row-major <c>[size, size]</c>, copied).</summary>
    /// <exception cref="ArgumentException">The sizes do not match, or a value is NaN or infinite.</exception>
    public Hessian(int size, ReadOnlySpan<double> values, long sampleCount)
        : this(Checked(size, values, sampleCount).ToArray(), size, sampleCount)
    {
    }

    private Hessian(double[] values, int size, long sampleCount)
    {
        Size = size;
        SampleCount = sampleCount;
        _values = values;
    }

    /// <summary>Takes <paramref name="values"/> as they are (checked, not copied): for builders that made them for this
    /// Hessian alone, where a copy would double the largest allocation of a run (1.6 GB at width 14,336).</summary>
    /// <exception cref="ArgumentException">As the constructor.</exception>
    internal static Hessian Adopt(int size, double[] values, long sampleCount)
    {
        Checked(size, values, sampleCount);
        return new Hessian(values, size, sampleCount);
    }

    private static ReadOnlySpan<double> Checked(int size, ReadOnlySpan<double> values, long sampleCount)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(sampleCount);
        if (values.Length != (long)size * size)
            throw new ArgumentException($"A {size}×{size} Hessian needs {(long)size * size} values, got {values.Length}.", nameof(values));
        foreach (double value in values)
        {
            if (!double.IsFinite(value))
                throw new ArgumentException("The Hessian holds NaN or infinity.", nameof(values));
        }
        return values;
    }

    /// <summary>The identity scaled by 2 (the Hessian of inputs that are white noise of unit variance).</summary>
    public static Hessian Identity(int size)
    {
        var values = new double[(long)size * size];
        for (int i = 0; i < size; i++)
            values[(long)i * size + i] = 2.0;
        return new Hessian(size, values, 0);
    }

    /// <summary>Dimension of the layer's inputs.</summary>
    public int Size { get; }

    /// <summary>Number N of input vectors accumulated (0 for a synthetic Hessian).</summary>
    public long SampleCount { get; }

    /// <summary>The values, row-major <c>[Size, Size]</c>.</summary>
    public ReadOnlySpan<double> Values => _values;

    /// <summary>H[i, j].</summary>
    public double this[int i, int j] => _values[(long)i * Size + j];

    /// <summary>A fresh float64 tensor <c>[Size, Size]</c> holding H.</summary>
    public Tensor ToTensor() => ToTensor(ScalarType.Float64, DefaultCopyRows);

    /// <summary>Rows of H copied at a time into a tensor: 512 MB of doubles (a span holds under 2 GB).</summary>
    private int DefaultCopyRows => Math.Max(1, (1 << 26) / Size);

    /// <summary>
    /// H as a fresh <paramref name="type"/> (float64, or float32 rounded) tensor, copied <paramref name="rowsPerBlock"/>
    /// rows at a time into native memory: tensor(double[]) wraps a managed copy that only a garbage collection frees, so a
    /// disposed 1.6 GB copy (n = 14,336) stayed in the process while GPTQ made the next.
    /// </summary>
    internal Tensor ToTensor(ScalarType type, int rowsPerBlock)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rowsPerBlock, 1);
        if (type is not (ScalarType.Float64 or ScalarType.Float32))
            throw new ArgumentException($"H is copied to float64 or float32, not {type}.", nameof(type));
        Tensor result = empty([Size, Size], type);
        for (int start = 0; start < Size; start += rowsPerBlock)
        {
            int count = Math.Min(rowsPerBlock, Size - start);
            using Tensor rows = result.narrow(0, start, count);
            ReadOnlySpan<double> source = _values.AsSpan(checked(start * Size), checked(count * Size));
            if (type == ScalarType.Float64)
            {
                System.Runtime.InteropServices.MemoryMarshal.AsBytes(source).CopyTo(rows.bytes);
                continue;
            }
            Span<float> target = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(rows.bytes);
            for (int i = 0; i < source.Length; i++)
                target[i] = (float)source[i];
        }
        return result;
    }

    /// <summary>
    /// The Hessian-weighted squared error of replacing <paramref name="weight"/> by <paramref name="quantized"/>
    /// (both row-major <c>[rows, Size]</c>): tr((W − Q) H (W − Q)ᵀ), the increase in the layer's summed squared output
    /// error, up to the factor 2/N. Computed in float64.
    /// </summary>
    public double WeightedError(ReadOnlySpan<float> weight, ReadOnlySpan<float> quantized) =>
        WeightedErrors(weight, quantized, ScalarType.Float64, DefaultErrorRows).Error;

    /// <summary>
    /// tr((W − Q) H (W − Q)ᵀ) and the reference tr(W H Wᵀ) (the error of replacing W by zero) at once, as a report's
    /// relative error needs them, with the products in float32 (two GEMMs at full SIMD speed; relative precision near
    /// 1e-6, far below any quantization error) and the sums in float64.
    /// </summary>
    /// <exception cref="ArgumentException">The weights do not form matching <c>[rows, Size]</c> matrices.</exception>
    public (double Error, double Reference) RelativeErrorTerms(ReadOnlySpan<float> weight, ReadOnlySpan<float> quantized) =>
        WeightedErrors(weight, quantized, ScalarType.Float32, DefaultErrorRows);

    /// <summary>
    /// Rows of W per product in the weighted errors: the products' <c>[rows, n]</c> temporaries stay near 64 MB however
    /// large the matrix (at 4,096 × 14,336 the whole-matrix products held 1.4 GB beside H); matrices of up to 2^24 weights
    /// are one block.
    /// </summary>
    private int DefaultErrorRows => Math.Max(1, (1 << 24) / Size);

    /// <summary>The weighted errors with <paramref name="rowsPerBlock"/> rows of W per product, in <paramref name="work"/> precision.</summary>
    internal (double Error, double Reference) WeightedErrors(ReadOnlySpan<float> weight, ReadOnlySpan<float> quantized, ScalarType work, int rowsPerBlock)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rowsPerBlock, 1);
        if (weight.Length != quantized.Length || weight.Length % Size != 0)
            throw new ArgumentException($"Weights of {weight.Length} and {quantized.Length} values do not form matching [rows, {Size}] matrices.", nameof(quantized));
        int rows = weight.Length / Size;
        using var scope = NewDisposeScope();
        Tensor h = ToTensor(work, DefaultCopyRows);
        double error = 0, reference = work == ScalarType.Float64 ? double.NaN : 0;
        for (int start = 0; start < rows; start += rowsPerBlock)
        {
            using var blockScope = NewDisposeScope();
            int count = Math.Min(rowsPerBlock, rows - start);
            Tensor w = tensor(weight.Slice(start * Size, count * Size).ToArray(), [count, Size]).to(work);
            Tensor delta = w - tensor(quantized.Slice(start * Size, count * Size).ToArray(), [count, Size]).to(work);
            error += delta.matmul(h).mul(delta).sum(ScalarType.Float64).item<double>();
            if (work != ScalarType.Float64)
                reference += w.matmul(h).mul(w).sum(ScalarType.Float64).item<double>();
        }
        return (error, reference);
    }
}
