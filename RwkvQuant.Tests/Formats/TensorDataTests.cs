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
