using RwkvQuant.Formats;

namespace RwkvQuant.Scalar;

/// <summary>The validated float32 values of a 2-D weight <c>[rows, columns]</c>, row-major.</summary>
internal sealed record WeightMatrix(string Name, int Rows, int Columns, float[] Values)
{
    /// <summary>Reads <paramref name="weight"/>.</summary>
    /// <exception cref="ArgumentException">It is not a 2-D floating-point tensor with at least one element, or it holds NaN or infinity.</exception>
    public static WeightMatrix Read(TensorData weight)
    {
        ArgumentNullException.ThrowIfNull(weight);
        if (weight.Shape.Count != 2 || weight.Shape[0] < 1 || weight.Shape[1] < 1 || weight.Shape[0] > int.MaxValue || weight.Shape[1] > int.MaxValue)
            throw new ArgumentException($"Tensor '{weight.Name}' must be a non-empty 2-D weight [rows, columns], got [{string.Join(", ", weight.Shape)}].", nameof(weight));
        if (weight.Type is not (TensorDataType.F32 or TensorDataType.F16 or TensorDataType.BF16 or TensorDataType.F64))
            throw new ArgumentException($"Tensor '{weight.Name}' has type {weight.Type}; a floating-point weight is needed.", nameof(weight));
        float[] values = weight.ToFloatArray();
        for (int i = 0; i < values.Length; i++)
        {
            if (!float.IsFinite(values[i]))
                throw new ArgumentException($"Tensor '{weight.Name}' holds {values[i]} at [{i / weight.Shape[1]}, {i % weight.Shape[1]}].", nameof(weight));
        }
        return new WeightMatrix(weight.Name, (int)weight.Shape[0], (int)weight.Shape[1], values);
    }
}
