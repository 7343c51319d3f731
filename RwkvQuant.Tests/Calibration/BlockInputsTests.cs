using RwkvQuant.Calibration;
using RwkvQuant.Formats.Ggml;
using RwkvQuant.Models;
using RwkvQuant.Quantization;
using RwkvQuant.Tokenizers;

namespace RwkvQuant.Tests.Calibration;

public class BlockInputsTests
{
    /// <summary>
    /// Running the blocks one at a time from cached inputs (what sequential calibration does) must observe exactly what
    /// a full forward pass observes at that block — for v7 too, whose later blocks use block 0's value.
    /// </summary>
    [FixtureTheory]
    [InlineData("tiny-rwkv-6v0-1m-FP32.bin")]
    [InlineData("tiny-rwkv-7v0-834K-FP32.bin")]
    public void Block_by_block_statistics_equal_those_of_the_full_forward_pass(string file)
    {
        RwkvModel model = GgmlModelLoader.Load(Fixtures.Path("rwkvcpp", file));
        CalibrationData data = CalibrationData.FromDocuments(["The quick brown fox jumps over the lazy dog. " + new string('x', 40)],
            Utf16LeByteTokenizer.Instance, new CalibrationOptions { SampleCount = 3, TokensPerSample = 16, BatchSize = 2 });
        using RwkvNetwork network = RwkvNetwork.Create(model);
        using BlockInputs inputs = BlockInputs.Embed(network, data, CancellationToken.None);
        int last = model.Config.LayerCount - 1;
        for (int block = 0; block <= last; block++)
        {
            if (block is 0 or 1 or 2 || block == last)
            {
                using HessianCollector full = HessianCollector.ForBlock(model, block);
                full.Collect(network, data);
                using HessianCollector staged = HessianCollector.ForBlock(model, block);
                var progress = new List<CalibrationProgress>();
                inputs.Observe(network, staged, new SynchronousProgress<CalibrationProgress>(progress.Add), CancellationToken.None);
                Assert.Equal(new CalibrationProgress(3, 3), progress[^1]);
                foreach (string name in full.WeightNames)
                {
                    Hessian expected = full.Build(name), actual = staged.Build(name);
                    Assert.Equal(expected.SampleCount, actual.SampleCount);
                    double scale = Enumerable.Range(0, expected.Size).Max(i => Math.Abs(expected[i, i]));
                    for (int i = 0; i < expected.Size; i++)
                        for (int j = 0; j < expected.Size; j++)
                            Assert.True(Math.Abs(expected[i, j] - actual[i, j]) <= 1e-6 * scale, $"{name} [{i}, {j}]: {expected[i, j]} vs {actual[i, j]}");
                }
            }
            if (block < last)
                inputs.Advance(network, CancellationToken.None);
        }
        Assert.Equal(last, inputs.NextBlock);
    }

    [FixtureFact]
    public void A_cancelled_pass_throws_before_running_a_batch()
    {
        RwkvModel model = GgmlModelLoader.Load(Fixtures.Path("rwkvcpp", "tiny-rwkv-7v0-834K-FP32.bin"));
        CalibrationData data = CalibrationData.FromDocuments([new string('a', 200)], ByteTokenizer.Instance,
            new CalibrationOptions { SampleCount = 2, TokensPerSample = 8 });
        using RwkvNetwork network = RwkvNetwork.Create(model);
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.Throws<OperationCanceledException>(() => BlockInputs.Embed(network, data, cancelled.Token));
        using BlockInputs inputs = BlockInputs.Embed(network, data, CancellationToken.None);
        Assert.Throws<OperationCanceledException>(() => inputs.Advance(network, cancelled.Token));
        Assert.Equal(0, inputs.NextBlock);
    }

    private sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
