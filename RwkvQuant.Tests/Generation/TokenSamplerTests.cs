using RwkvQuant.Generation;
using RwkvQuant.Tests.Evaluation;

namespace RwkvQuant.Tests.Generation;

public class TokenSamplerTests
{
    [Fact]
    public void Temperature_zero_is_argmax_with_ties_to_the_lowest_id()
    {
        var sampler = new TokenSampler(SamplingOptions.Greedy);
        Assert.Equal(2, sampler.Sample([0f, 1f, 3f, -2f]));
        Assert.Equal(1, sampler.Sample([0f, 3f, 3f]));
    }

    [Fact]
    public void A_small_top_p_keeps_only_the_most_likely_token()
    {
        var sampler = new TokenSampler(new SamplingOptions { Temperature = 1, TopP = 0.01, Seed = 1 });
        for (int i = 0; i < 50; i++)
            Assert.Equal(3, sampler.Sample([0f, 1f, 0.5f, 1.5f]));
    }

    [Fact]
    public void Sampling_follows_the_softmax_and_is_reproducible_with_a_seed()
    {
        float[] logits = [0f, MathF.Log(2), MathF.Log(3), MathF.Log(4)]; // p = 0.1, 0.2, 0.3, 0.4
        var counts = new int[4];
        var sampler = new TokenSampler(new SamplingOptions { Seed = 42 });
        const int draws = 20000;
        for (int i = 0; i < draws; i++)
            counts[sampler.Sample(logits)]++;
        for (int v = 0; v < 4; v++)
            Assert.InRange(counts[v] / (double)draws, 0.1 * (v + 1) - 0.015, 0.1 * (v + 1) + 0.015);

        var again = new TokenSampler(new SamplingOptions { Seed = 42 });
        var first = new TokenSampler(new SamplingOptions { Seed = 42 });
        Assert.Equal(Enumerable.Range(0, 100).Select(_ => first.Sample(logits)), Enumerable.Range(0, 100).Select(_ => again.Sample(logits)));
    }

    [Fact]
    public void Top_p_renormalises_over_the_nucleus()
    {
        float[] logits = [0f, MathF.Log(2), MathF.Log(3), MathF.Log(4)]; // nucleus at 0.7 = {3, 2}
        var sampler = new TokenSampler(new SamplingOptions { TopP = 0.7, Seed = 3 });
        var counts = new int[4];
        for (int i = 0; i < 10000; i++)
            counts[sampler.Sample(logits)]++;
        Assert.Equal(0, counts[0] + counts[1]);
        Assert.InRange(counts[3] / 10000.0, 4 / 7.0 - 0.02, 4 / 7.0 + 0.02);
    }

    [Fact]
    public void Options_are_validated()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new SamplingOptions { Temperature = -1 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new SamplingOptions { TopP = 0 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new SamplingOptions { TopP = 1.5 });
    }

    [Fact]
    public void Greedy_generation_follows_the_networks_argmax_with_carried_state()
    {
        using var network = TwoTokenNetwork.Random(vocabulary: 9, seed: 11);
        int[] prompt = [1, 4, 2];
        int[] generated = TextGenerator.Generate(network, prompt, 12, SamplingOptions.Greedy).ToArray();
        Assert.Equal(12, generated.Length);
        var sequence = prompt.ToList();
        foreach (int token in generated)
        {
            double[] logits = network.Logits([.. sequence], sequence.Count - 1);
            Assert.Equal(Array.IndexOf(logits, logits.Max()), token);
            sequence.Add(token);
        }
    }

    [Fact]
    public void Generation_stops_at_the_stop_token()
    {
        using var network = TwoTokenNetwork.Random(vocabulary: 9, seed: 11);
        int[] all = TextGenerator.Generate(network, [1], 30, SamplingOptions.Greedy).ToArray();
        int stop = all[3];
        int[] stopped = TextGenerator.Generate(network, [1], 30, SamplingOptions.Greedy, stopToken: stop).ToArray();
        Assert.Equal(all.TakeWhile(t => t != stop), stopped);
        Assert.Throws<ArgumentException>(() => TextGenerator.Generate(network, [], 3));
    }
}
