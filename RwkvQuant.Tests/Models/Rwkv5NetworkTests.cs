using RwkvQuant.Formats.Ggml;
using RwkvQuant.Models;
using Xunit.Abstractions;

namespace RwkvQuant.Tests.Models;

public class Rwkv5NetworkTests(ITestOutputHelper output)
{
    private static RwkvNetwork Open(string tag, string type) =>
        RwkvNetwork.Create(GgmlModelLoader.Load(Fixtures.Path("rwkvcpp", $"tiny-rwkv-{tag}-{type}.bin")));

    [FixtureTheory]
    [InlineData("5v1-730K", "FP32", 1e-4)]
    [InlineData("5v1-730K", "FP16", 0.01)]
    [InlineData("5v2-730K", "FP32", 1e-4)]
    [InlineData("5v2-730K", "FP16", 0.01)]
    public void Logits_after_the_prompt_match_rwkv_cpp(string tag, string type, double tolerance)
    {
        using RwkvNetwork network = Open(tag, type);
        Assert.IsType<Rwkv5Network>(network);
        Assert.Equal(tag.StartsWith("5v2", StringComparison.Ordinal) ? RwkvVersion.V5_2 : RwkvVersion.V5_1, network.Config.Version);
        float[] expected = NetworkChecks.ExpectedLogits(tag);
        var (sequence, recurrent) = NetworkChecks.PromptLogits(network);
        float sequenceDifference = NetworkChecks.MaxAbsDifference(expected, sequence);
        float recurrentDifference = NetworkChecks.MaxAbsDifference(expected, recurrent);
        output.WriteLine($"{tag} {type}: max |Δlogit| sequence {sequenceDifference:E3}, recurrent {recurrentDifference:E3}");
        Assert.InRange(sequenceDifference, 0, tolerance);
        Assert.InRange(recurrentDifference, 0, tolerance);
    }

    [FixtureTheory]
    [InlineData("5v1-730K")]
    [InlineData("5v2-730K")]
    public void Recurrent_mode_matches_sequence_mode_on_a_batch(string tag)
    {
        using RwkvNetwork network = Open(tag, "FP32");
        float difference = NetworkChecks.RecurrentVersusSequence(network);
        output.WriteLine($"{tag}: max |sequence − recurrent| = {difference:E3}");
        Assert.InRange(difference, 0, 1e-5);
    }

    [FixtureTheory]
    [InlineData("5v1-730K")]
    [InlineData("5v2-730K")]
    public void State_carried_across_two_calls_equals_one_call(string tag)
    {
        using RwkvNetwork network = Open(tag, "FP32");
        float difference = NetworkChecks.SplitVersusWhole(network);
        output.WriteLine($"{tag}: max |split − whole| = {difference:E3}");
        Assert.InRange(difference, 0, 1e-5);
    }
}
