using RwkvQuant.Calibration;
using RwkvQuant.DefaultModel;
using RwkvQuant.Models;
using RwkvQuant.Pipeline;

namespace RwkvQuant.Tests.Pipeline;

public class MemoryEstimateTests
{
    [Fact]
    public void The_parts_follow_the_shapes_of_a_real_model()
    {
        // Two blocks of the RWKV-7 0.1B shape with a small vocabulary: the per-block parts do not depend on the block count.
        SyntheticShape shape = SyntheticModels.Find("rwkv7-0.1b") with { LayerCount = 2, VocabularySize = 64 };
        RwkvModel model = SyntheticModels.Create(shape);
        MemoryEstimate estimate = MemoryEstimate.For(model, CalibrationOptions.Default);

        // One block call's batch (2 samples of 512 tokens fit the activation budget at width 768), float32, twice for
        // RWKV-7's carried value; the other samples wait on disk.
        Assert.Equal(2L * 512 * 768 * 4 * 2, estimate.CalibrationInputs);
        // Block 1's matrices: r, k, v, o (768 in), ffn.key (768 in), ffn.value (3072 in) and the LoRA pairs, in float64,
        // and ffn.value's float32 product xᵀx.
        long columnsSquared = 5L * 768 * 768 + 3072L * 3072 + 4L * 768 * 768 + 64L * 64 + 64L * 64 + 32L * 32 + 128L * 128;
        Assert.Equal(columnsSquared * 8 + 3072L * 3072 * 4, estimate.Hessians);
        Assert.True(estimate.Quantizer >= 3L * 3072 * 3072 * 8, "GPTQ on ffn.value holds three float64 3072² matrices at its worst");
        long blockWeights = LinearWeights.Of(model).Where(w => w.Block >= 0).Sum(w => (long)w.Rows * w.Columns);
        Assert.Equal(blockWeights / 2, estimate.Output); // half a byte per quantized weight
        MemoryEstimate streamed = MemoryEstimate.For(model, CalibrationOptions.Default, holdsOutput: false);
        Assert.Equal(0, streamed.Output); // written as each block finishes
        Assert.Equal(estimate.Total - estimate.Output, streamed.Total);
        Assert.True(estimate.Total < 4e9, estimate.ToString());
        Assert.Equal(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes, estimate.Available);
        Assert.Contains("calibration inputs 0.01,", estimate.ToString(), StringComparison.Ordinal);
        Assert.StartsWith(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{estimate.Total / 1e9:F2} GB of "), estimate.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void More_samples_cost_no_memory_longer_samples_do_and_an_impossible_run_does_not_fit()
    {
        RwkvModel model = EmbeddedModel.Load();
        MemoryEstimate few = MemoryEstimate.For(model, CalibrationOptions.Default with { SampleCount = 8 });
        MemoryEstimate many = MemoryEstimate.For(model, CalibrationOptions.Default);
        Assert.True(few.Fits);
        Assert.Equal(few, many); // the samples beyond one block call's batch wait in the spill file
        MemoryEstimate longer = MemoryEstimate.For(model, CalibrationOptions.Default with { TokensPerSample = 64 * 512 });
        Assert.True(longer.BlockWork > 4 * many.BlockWork, $"{longer} vs {many}");
        MemoryEstimate impossible = MemoryEstimate.For(model, CalibrationOptions.Default with { TokensPerSample = 100_000_000 });
        Assert.False(impossible.Fits);
        Assert.True(impossible.Total > impossible.Available);
    }
}
