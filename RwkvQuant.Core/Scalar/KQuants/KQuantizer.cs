using RwkvQuant.Formats;
using RwkvQuant.Formats.Ggml;
using RwkvQuant.Kernels.Packed;
using RwkvQuant.Quantization;
using RwkvQuant.Scalar.Ggml;

namespace RwkvQuant.Scalar.KQuants;

/// <summary>
/// Quantizes a 2-D weight into a llama.cpp k-quant or IQ4 format, byte for byte as <c>llama-quantize</c> does for that
/// matrix (with or without <c>--imatrix</c>), including llama.cpp's fallback for rows that are not a whole number of
/// 256-value super-blocks: Q2_K, Q3_K, IQ4_XS and IQ3_S fall back to IQ4_NL, Q4_K to Q5_0 (blocks of 32), and the result is
/// then an IQ4_NL <see cref="KQuantTensor"/> or a Q5_0 <see cref="GgmlBlockTensor"/>. Stateless and thread-safe.
/// </summary>
public sealed class KQuantizer : IImportanceQuantizer
{
    /// <summary>Creates a quantizer for <paramref name="options"/>.</summary>
    public KQuantizer(KQuantizerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Options = options;
    }

    /// <summary>The options fixed at construction.</summary>
    public KQuantizerOptions Options { get; }

    /// <inheritdoc />
    public string Name => $"ggml {Options.Type.ToString().ToLowerInvariant()}{(Options.UseImportance ? " imatrix" : "")}";

    /// <inheritdoc />
    public bool RequiresHessian => Options.UseImportance;

    /// <summary>The format a row of <paramref name="columns"/> values takes: the options' type, or llama.cpp's fallback (IQ4_NL for Q2_K/Q3_K/IQ4_XS/IQ3_S, null for Q4_K, meaning Q5_0).</summary>
    public KQuantType? FormatFor(int columns) =>
        columns % Options.Type.ValuesPerBlock() == 0 ? Options.Type
        : Options.Type == KQuantType.Q4_K ? null
        : KQuantType.IQ4_NL;

    /// <inheritdoc />
    public long StoredBitsFor(int rows, int columns)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(columns, 1);
        if (columns % 32 != 0)
            throw new ArgumentException($"{Options.Type} (and its fallback) needs a column count that is a multiple of 32; got {columns}.", nameof(columns));
        long bytes = FormatFor(columns) is { } type ? type.StorageSize((long)rows * columns) : GgmlType.Q5_0.StorageSize((long)rows * columns);
        return bytes * 8;
    }

    /// <inheritdoc />
    /// <exception cref="ArgumentException">The weight is not 2-D floating point, its column count is not a multiple of 32,
    /// it holds NaN or infinity (<see cref="GgmlQuantizer"/>'s checks), or the importance matrix is wanted and the Hessian
    /// is missing or of the wrong size (the message names the tensor).</exception>
    public QuantizedTensor Quantize(TensorData weight, Hessian? hessian = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(weight);
        var (values, problem) = GgmlQuantizer.ReadBlockWeight(weight, Name, $"{Options.Type} (or its fallback)");
        if (values is null)
            throw new ArgumentException($"Tensor '{weight.Name}' {problem}", nameof(weight));
        int rows = (int)weight.Shape[0], columns = (int)weight.Shape[1];
        float[] importance = [];
        if (Options.UseImportance)
        {
            if (hessian is null)
                throw new ArgumentException($"Tensor '{weight.Name}': {Name} needs the layer's Hessian for its importance matrix.", nameof(hessian));
            if (hessian.Size != columns)
                throw new ArgumentException($"Tensor '{weight.Name}' has {columns} columns but the Hessian is {hessian.Size}×{hessian.Size}.", nameof(hessian));
            importance = new float[columns];
            for (int j = 0; j < columns; j++)
                importance[j] = (float)(hessian[j, j] / 2);
        }
        return Quantize(weight.Name, values, rows, columns, importance, cancellationToken);
    }

    /// <inheritdoc />
    /// <remarks>With <see cref="KQuantizerOptions.UseImportance"/> false the importances are ignored, as llama-quantize
    /// without <c>--imatrix</c>.</remarks>
    public QuantizedTensor Quantize(TensorData weight, ReadOnlySpan<float> importance, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(weight);
        var (values, problem) = GgmlQuantizer.ReadBlockWeight(weight, Name, $"{Options.Type} (or its fallback)");
        if (values is null)
            throw new ArgumentException($"Tensor '{weight.Name}' {problem}", nameof(weight));
        int rows = (int)weight.Shape[0], columns = (int)weight.Shape[1];
        if (!Options.UseImportance)
            return Quantize(weight.Name, values, rows, columns, [], cancellationToken);
        if (importance.Length != columns)
            throw new ArgumentException($"Tensor '{weight.Name}' has {columns} columns but {importance.Length} importances.", nameof(importance));
        foreach (float v in importance)
        {
            if (!(v >= 0) || float.IsInfinity(v))
                throw new ArgumentException($"Tensor '{weight.Name}': an importance is {v}; they are finite and not negative.", nameof(importance));
        }
        return Quantize(weight.Name, values, rows, columns, importance.ToArray(), cancellationToken);
    }

    private QuantizedTensor Quantize(string name, float[] values, int rows, int columns, float[] importance, CancellationToken cancellationToken)
    {
        KQuantType? format = FormatFor(columns);
        int rowBytes = format is { } t ? (int)t.StorageSize(columns) : (int)GgmlType.Q5_0.StorageSize(columns);
        var blocks = new byte[(long)rows * rowBytes];
        if (format is null && importance.Length == 0)
        {
            // Q4_K's fallback without an importance matrix is ggml's reference Q5_0.
            GgmlBlockQuantizer.Quantize(GgmlType.Q5_0, values, blocks);
            return new GgmlBlockTensor(name, rows, columns, GgmlType.Q5_0, blocks);
        }
        Parallel.For(0, rows, new ParallelOptions { CancellationToken = cancellationToken }, r =>
        {
            ReadOnlySpan<float> row = values.AsSpan(r * columns, columns);
            Span<byte> destination = blocks.AsSpan(r * rowBytes, rowBytes);
            if (format is { } type)
                KQuantBlockQuantizer.QuantizeRow(type, row, importance, destination);
            else
                KQuantBlockQuantizer.QuantizeQ5_0Row(row, importance, destination);
        });
        return format is { } kind
            ? new KQuantTensor(name, rows, columns, kind, blocks)
            : new GgmlBlockTensor(name, rows, columns, GgmlType.Q5_0, blocks);
    }
}
