using RwkvQuant.Formats;
using RwkvQuant.Formats.Ggml;
using RwkvQuant.Quantization;

namespace RwkvQuant.Scalar.Ggml;

/// <summary>
/// Quantizes a 2-D weight into a ggml block format, bit-exact with ggml's reference quantizers (and so with
/// rwkv.cpp's <c>quantize</c>): each row is cut into blocks of 32 consecutive columns, each block gets its own fp16
/// scale (and fp16 minimum for Q4_1/Q5_1). Stateless and thread-safe; ignores any Hessian.
/// </summary>
public sealed class GgmlQuantizer : IScalarQuantizer
{
    /// <summary>Creates a quantizer for <paramref name="options"/>' format.</summary>
    public GgmlQuantizer(GgmlQuantizerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Options = options;
    }

    /// <summary>The options fixed at construction.</summary>
    public GgmlQuantizerOptions Options { get; }

    /// <inheritdoc />
    public string Name => $"ggml {Options.Type.ToString().ToLowerInvariant()}";

    /// <inheritdoc />
    public bool RequiresHessian => false;

    /// <inheritdoc />
    public long StoredBitsFor(int rows, int columns)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(columns, 1);
        if (columns % GgmlTypes.BlockSize != 0)
            throw new ArgumentException($"{Options.Type} needs a column count that is a multiple of {GgmlTypes.BlockSize}; got {columns}.", nameof(columns));
        return (long)rows * (columns / GgmlTypes.BlockSize) * Options.Type.BytesPerBlock() * 8;
    }

    /// <inheritdoc />
    /// <exception cref="ArgumentException">The weight is not 2-D float, its column count is not a multiple of 32, or it
    /// holds NaN or infinity (the message names the tensor).</exception>
    public QuantizedTensor Quantize(TensorData weight, Hessian? hessian = null, CancellationToken cancellationToken = default) =>
        QuantizeTensor(weight, cancellationToken);

    /// <summary><see cref="Quantize"/> with its concrete result type.</summary>
    /// <exception cref="ArgumentException">As for <see cref="Quantize"/>.</exception>
    public GgmlBlockTensor QuantizeTensor(TensorData weight, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(weight);
        cancellationToken.ThrowIfCancellationRequested();
        var (result, problem) = TryQuantize(weight, Options.Type);
        return result ?? throw new ArgumentException($"Tensor '{weight.Name}' {problem}", nameof(weight));
    }

    /// <summary>
    /// Quantizes <paramref name="weight"/>, or says what is wrong with it (a sentence that follows the tensor's name,
    /// so that callers can name the tensor and, where there is one, the file).
    /// </summary>
    internal static (GgmlBlockTensor? Result, string? Problem) TryQuantize(TensorData weight, GgmlType type)
    {
        var (values, problem) = ReadBlockWeight(weight, "ggml block quantization", type.ToString());
        if (values is null)
            return (null, problem);
        var blocks = new byte[type.StorageSize(values.LongLength)];
        GgmlBlockQuantizer.Quantize(type, values, blocks);
        return (new GgmlBlockTensor(weight.Name, (int)weight.Shape[0], (int)weight.Shape[1], type, blocks), null);
    }

    /// <summary>
    /// The values of a weight for a block format whose blocks of 32 run along a row (ggml's and llama.cpp's): a 2-D
    /// floating-point [rows, columns] weight, columns a multiple of 32, every value finite and within FP16's range (the
    /// formats' scales are FP16) — or what is wrong with it, a
    /// sentence that follows the tensor's name. <paramref name="quantization"/> names the quantization in the messages,
    /// <paramref name="format"/> the block format.
    /// </summary>
    internal static (float[]? Values, string? Problem) ReadBlockWeight(TensorData weight, string quantization, string format)
    {
        if (weight.Shape.Count != 2)
            return (null, $"has shape [{string.Join(", ", weight.Shape)}]; {quantization} takes a 2-D [rows, columns] weight.");
        if (weight.Type is not (TensorDataType.F32 or TensorDataType.F16 or TensorDataType.BF16 or TensorDataType.F64))
            return (null, $"is {weight.Type}; {quantization} takes floating-point weights.");
        long rows = weight.Shape[0], columns = weight.Shape[1];
        if (rows < 1 || columns < 1 || rows > int.MaxValue || columns > int.MaxValue)
            return (null, $"has shape [{rows}, {columns}], which cannot be quantized.");
        if (columns % GgmlTypes.BlockSize != 0)
            return (null, $"has {columns} columns; {format} needs a multiple of {GgmlTypes.BlockSize} (blocks run along a row).");

        float[] values = weight.ToFloatArray();
        int bad = Array.FindIndex(values, v => !float.IsFinite(v));
        if (bad >= 0)
            return (null, $"holds {values[bad]} at [{bad / columns}, {bad % columns}]; only finite weights can be quantized.");
        // Every block scale of these formats is at most the block's largest magnitude, so weights within FP16's range
        // keep every stored scale finite (ggml itself would store an infinity).
        bad = Array.FindIndex(values, v => Math.Abs(v) > (float)Half.MaxValue);
        if (bad >= 0)
            return (null, $"holds {values[bad]} at [{bad / columns}, {bad % columns}]; {format} stores FP16 scales, which reach only ±{(float)Half.MaxValue}.");
        return (values, null);
    }
}
