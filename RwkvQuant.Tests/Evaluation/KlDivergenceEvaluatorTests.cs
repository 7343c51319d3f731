using RwkvQuant.Evaluation;

namespace RwkvQuant.Tests.Evaluation;

public class KlDivergenceEvaluatorTests
{
    private static readonly int[][] Documents =
        [[1, 2, 3, 4, 5, 6, 0, 1], [3, 3, 3], [6, 5, 4, 3, 2, 1, 0, 6, 5, 4, 3], [2]];

    [Fact]
    public void A_network_against_itself_has_zero_divergence_and_full_agreement()
    {
        using var network = TwoTokenNetwork.Random(vocabulary: 7, seed: 4);
        KlDivergenceResult result = KlDivergenceEvaluator.Evaluate(network, network, Documents,
            new EvaluationOptions { BatchSize = 2, MaxChunkLength = 3 });
        Assert.Equal(7 + 2 + 10, result.TokenCount);
        Assert.Equal(0.0, result.TotalKl, 1e-9);
        Assert.Equal(1.0, result.Top1Agreement);
    }

    [Fact]
    public void Different_networks_match_the_exact_divergence()
    {
        using var reference = TwoTokenNetwork.Random(vocabulary: 7, seed: 4);
        using var candidate = TwoTokenNetwork.Random(vocabulary: 7, seed: 8);
        double expected = 0, max = 0;
        foreach (int[] document in Documents)
        {
            for (int p = 0; p + 1 < document.Length; p++)
            {
                double[] logP = LogSoftmax(reference.Logits(document, p));
                double[] logQ = LogSoftmax(candidate.Logits(document, p));
                double kl = logP.Select((lp, v) => Math.Exp(lp) * (lp - logQ[v])).Sum();
                expected += kl;
                max = Math.Max(max, kl);
            }
        }
        KlDivergenceResult result = KlDivergenceEvaluator.Evaluate(reference, candidate, Documents,
            new EvaluationOptions { BatchSize = 3, MaxChunkLength = 4 });
        Assert.True(result.TotalKl > 0);
        Assert.Equal(expected, result.TotalKl, 1e-5 * expected);
        Assert.Equal(max, result.MaxKl, 1e-5 * max);
        Assert.InRange(result.Top1Agreement, 0.0, 1.0);
    }

    [Fact]
    public void Vocabularies_must_match()
    {
        using var a = TwoTokenNetwork.Random(vocabulary: 7, seed: 4);
        using var b = TwoTokenNetwork.Random(vocabulary: 8, seed: 4);
        Assert.Throws<ArgumentException>(() => KlDivergenceEvaluator.Evaluate(a, b, Documents));
    }

    private static double[] LogSoftmax(double[] logits)
    {
        double max = logits.Max();
        double logSum = max + Math.Log(logits.Sum(l => Math.Exp(l - max)));
        return logits.Select(l => l - logSum).ToArray();
    }
}
