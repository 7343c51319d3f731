using RwkvQuant.Calibration;
using static TorchSharp.torch;

namespace RwkvQuant.Tests.Calibration;

public class ActivationSpillTests
{
    [Fact]
    public void Tensors_of_odd_shapes_come_back_bit_for_bit_and_a_slot_can_be_overwritten()
    {
        using var spill = new ActivationSpill();
        using var scope = NewDisposeScope();
        Tensor[] tensors = [randn(3, 17, 5) * 1e30, randn(1, 1, 1), randn(2, 333, 7), tensor(new[] { float.NaN, float.PositiveInfinity, -0f, float.Epsilon }).reshape(1, 2, 2)];
        ActivationSpill.Slot[] slots = tensors.Select(spill.Append).ToArray();
        Assert.Equal(tensors.Sum(t => t.numel() * 4), spill.Length);
        for (int i = tensors.Length - 1; i >= 0; i--)
            AssertSameBits(tensors[i], spill.Read(slots[i]));

        Tensor replacement = randn(2, 333, 7).transpose(0, 1).contiguous().transpose(0, 1); // not contiguous
        spill.Write(slots[2], replacement);
        AssertSameBits(replacement, spill.Read(slots[2]));
        AssertSameBits(tensors[1], spill.Read(slots[1]));
        AssertSameBits(tensors[3], spill.Read(slots[3]));
        Assert.Equal(tensors.Sum(t => t.numel() * 4), spill.Length);
    }

    [Fact]
    public void A_tensor_of_another_shape_or_type_is_refused_with_both_named()
    {
        using var spill = new ActivationSpill();
        using Tensor x = zeros(2, 3, 4);
        ActivationSpill.Slot slot = spill.Append(x);
        using Tensor wider = zeros(2, 3, 5);
        var e = Assert.Throws<ArgumentException>(() => spill.Write(slot, wider));
        Assert.Contains("[2, 3, 4]", e.Message, StringComparison.Ordinal);
        Assert.Contains("[2, 3, 5]", e.Message, StringComparison.Ordinal);
        using Tensor doubles = zeros(new long[] { 2, 3, 4 }, ScalarType.Float64);
        Assert.Throws<ArgumentException>(() => spill.Write(slot, doubles));
    }

    [Fact]
    public void The_file_is_gone_once_closed_and_on_Unix_from_the_moment_it_is_open()
    {
        string folder = Directory.CreateTempSubdirectory("rwkvquant-spill-").FullName;
        try
        {
            var spill = new ActivationSpill(folder);
            using (Tensor x = ones(4, 4, 4))
                spill.Append(x);
            Assert.StartsWith(folder, spill.Path, StringComparison.Ordinal);
            if (!OperatingSystem.IsWindows())
                Assert.Empty(Directory.GetFiles(folder)); // only the open handle reaches it: a killed process leaves nothing
            spill.Dispose();
            Assert.Empty(Directory.GetFiles(folder));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void A_folder_that_cannot_hold_the_file_gives_an_error_naming_it()
    {
        string missing = Path.Combine(Path.GetTempPath(), $"rwkvquant-missing-{Guid.NewGuid():N}");
        var e = Assert.Throws<IOException>(() => new ActivationSpill(missing));
        Assert.Contains(missing, e.Message, StringComparison.Ordinal);
        Assert.Contains("TMPDIR", e.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(missing));
    }

    private static void AssertSameBits(Tensor expected, Tensor actual)
    {
        Assert.Equal(expected.shape, actual.shape);
        Assert.Equal(ScalarType.Float32, actual.dtype);
        int[] Bits(Tensor t) => t.contiguous().data<float>().ToArray().Select(BitConverter.SingleToInt32Bits).ToArray();
        Assert.Equal(Bits(expected), Bits(actual));
    }
}
