using RwkvQuant.Formats.Ggml;

namespace RwkvQuant.Scalar.Ggml;

/// <summary>Options of <see cref="GgmlQuantizer"/>: which ggml block format to produce.</summary>
public sealed record GgmlQuantizerOptions
{
    /// <summary>Creates options for <paramref name="type"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="type"/> is not Q4_0, Q4_1, Q5_0, Q5_1 or Q8_0.</exception>
    public GgmlQuantizerOptions(GgmlType type)
    {
        if (!Enum.IsDefined(type) || !type.IsQuantized())
            throw new ArgumentException($"{type} is not a ggml block format; use Q4_0, Q4_1, Q5_0, Q5_1 or Q8_0.", nameof(type));
        Type = type;
    }

    /// <summary>The block format (Q4_0, Q4_1, Q5_0, Q5_1 or Q8_0).</summary>
    public GgmlType Type { get; }
}
