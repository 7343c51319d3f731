using RwkvQuant.Formats.Ggml;
using RwkvQuant.Models;
using Xunit.Abstractions;

namespace RwkvQuant.Tests.Models;

public class Rwkv4NetworkTests(ITestOutputHelper output)
{
    private const string Tag = "4v0-660K";

    [FixtureTheory]
    [InlineData("FP32", 1e-4)]
    [InlineData("FP16", 0.01)]
    public void Logits_after_the_prompt_match_rwkv_cpp(string type, double tolerance)
    {
        using RwkvNetwork network = RwkvNetwork.Create(GgmlModelLoader.Load(Fixtures.Path("rwkvcpp", $"tiny-rwkv-{Tag}-{type}.bin")));
        Assert.IsType<Rwkv4Network>(network);
        float[] expected = NetworkChecks.ExpectedLogits(Tag);
        var (sequence, recurrent) = NetworkChecks.PromptLogits(network);
        float sequenceDifference = NetworkChecks.MaxAbsDifference(expected, sequence);
        float recurrentDifference = NetworkChecks.MaxAbsDifference(expected, recurrent);
        output.WriteLine($"{Tag} {type}: max |Δlogit| sequence {sequenceDifference:E3}, recurrent {recurrentDifference:E3}");
        Assert.InRange(sequenceDifference, 0, tolerance);
        Assert.InRange(recurrentDifference, 0, tolerance);
    }

    // rwkv.cpp's own test (tests/test_tiny_rwkv.c) accepts a quantized file when |Σ(logit − FP32 logit)| stays
    // within 1.05 × its recorded sum (FP32 → Q5_0: −0.170404, FP32 → Q5_1: +0.278034). The max difference is
    // held to 0.25 as well.
    [FixtureTheory]
    [InlineData("Q5_0", -0.170404)]
    [InlineData("Q5_1", 0.278034)]
    public void Quantized_logits_stay_within_rwkv_cpp_quantization_error(string type, double rwkvCppSum)
    {
        using RwkvNetwork network = RwkvNetwork.Create(GgmlModelLoader.Load(Fixtures.Path("rwkvcpp", $"tiny-rwkv-{Tag}-{type}.bin")));
        float[] expected = NetworkChecks.ExpectedLogits(Tag);
        float[] logits = NetworkChecks.PromptLogits(network).Sequence;
        float max = NetworkChecks.MaxAbsDifference(expected, logits);
        double sum = NetworkChecks.SignedDifferenceSum(logits, expected);
        output.WriteLine($"{Tag} {type}: max |Δlogit| {max:E3}, Σ Δlogit {sum:F4} (rwkv.cpp {rwkvCppSum:F4})");
        Assert.InRange(Math.Abs(sum), 0, Math.Abs(rwkvCppSum) * 1.05);
        Assert.InRange(max, 0, 0.25);
    }

    [FixtureFact]
    public void Recurrent_mode_matches_sequence_mode_on_a_batch()
    {
        using RwkvNetwork network = RwkvNetwork.Create(GgmlModelLoader.Load(Fixtures.Path("rwkvcpp", $"tiny-rwkv-{Tag}-FP32.bin")));
        float difference = NetworkChecks.RecurrentVersusSequence(network);
        output.WriteLine($"max |sequence − recurrent| = {difference:E3}");
        Assert.InRange(difference, 0, 1e-5);
    }

    [FixtureFact]
    public void State_carried_across_two_calls_equals_one_call()
    {
        using RwkvNetwork network = RwkvNetwork.Create(GgmlModelLoader.Load(Fixtures.Path("rwkvcpp", $"tiny-rwkv-{Tag}-FP32.bin")));
        float difference = NetworkChecks.SplitVersusWhole(network);
        output.WriteLine($"max |split − whole| = {difference:E3}");
        Assert.InRange(difference, 0, 1e-5);
    }
}
