using RwkvQuant.Formats;

namespace RwkvQuant.Tests.Formats;

public class TensorDataTests
{
    [Fact]
    public void Converts_between_float_types_rounding_to_nearest_even()
    {
        // 1 + 2^-8 is a tie halfway between two bfloat16 values: nearest even keeps 1.0; 1 + 3·2^-8 rounds up.
        TensorData f32 = TensorData.FromFloats("w", [4], [1f, 1f + 1f / 256, 1f + 3f / 256, -2.5f]);
        TensorData bf16 = f32.ConvertTo(TensorDataType.BF16);
        Assert.Equal(TensorDataType.BF16, bf16.Type);
        Assert.Equal([1f, 1f, 1f + 4f / 256, -2.5f], bf16.ToFloatArray());
        TensorData f16 = f32.ConvertTo(TensorDataType.F16);
        Assert.Equal(f32.ToFloatArray(), f16.ToFloatArray()); // all four are exact in binary16
        TensorData back = f16.ConvertTo(TensorDataType.F32);
        Assert.Equal(TensorDataType.F32, back.Type);
        Assert.Equal(f32.ToFloatArray(), back.ToFloatArray());
        Assert.Same(f32, f32.ConvertTo(TensorDataType.F32));
    }

    [Fact]
    public void Refuses_a_non_float_target()
    {
        Assert.Throws<ArgumentException>(() => TensorData.FromFloats("w", [1], [1f]).ConvertTo(TensorDataType.I8));
    }
}

/// <summary><see cref="TensorData.IndexOfNonFinite"/> against a naive twin, on odd lengths and every floating-point type.</summary>
public class TensorDataNonFiniteTests
{
    [Theory]
    [InlineData(TensorDataType.F32)]
    [InlineData(TensorDataType.F16)]
    [InlineData(TensorDataType.BF16)]
    [InlineData(TensorDataType.F64)]
    public void Finds_the_first_NaN_or_infinity_like_a_naive_scan(TensorDataType type)
    {
        var random = new Random(5);
        foreach (int length in new[] { 1, 7, 33, 100, 257 })
        {
            foreach (int position in new[] { -1, 0, length / 2, length - 1 })
            {
                foreach (float bad in new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity })
                {
                    float[] values = [.. Enumerable.Range(0, length).Select(_ => (float)(random.NextDouble() * 2e4 - 1e4))];
                    values[random.Next(length)] = 0;
                    if (position >= 0)
                    {
                        values[position] = bad;
                        if (position + 1 < length)
                            values[length - 1] = float.NaN; // a later one is not the first
                    }
                    TensorData tensor = type == TensorDataType.F64
                        ? new TensorData("t", type, [length], [.. values.SelectMany(v => BitConverter.GetBytes((double)v))])
                        : TensorData.FromFloats("t", [length], values).ConvertTo(type);
                    float[] stored = tensor.ToFloatArray();
                    long expected = Array.FindIndex(stored, v => !float.IsFinite(v));
                    Assert.Equal(expected, tensor.IndexOfNonFinite());
                    Assert.Equal(position, expected);
                }
            }
        }
    }

    [Fact]
    public void Integer_tensors_have_no_non_finite_values() =>
        Assert.Equal(-1, new TensorData("i", TensorDataType.I32, [3], [0, 0, 0x80, 0x7F, 0, 0, 0x80, 0xFF, 1, 2, 3, 4]).IndexOfNonFinite());
}
