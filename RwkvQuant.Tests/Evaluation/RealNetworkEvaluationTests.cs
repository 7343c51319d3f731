using RwkvQuant.Evaluation;
using RwkvQuant.Formats.Ggml;
using RwkvQuant.Models;
using RwkvQuant.Tokenizers;
using static TorchSharp.torch;

namespace RwkvQuant.Tests.Evaluation;

/// <summary>The evaluators on the real v6 fixture: batching, padding and chunking must not change the scores.</summary>
public class RealNetworkEvaluationTests
{
    private static readonly string[] Texts =
        ["The cat sat on the mat.", "Hi", "A longer sentence, so that this document needs several chunks of positions.", "x"];

    /// <summary>−ln p summed over a document, fed one token at a time in recurrent mode (no batching at all).</summary>
    private static double RecurrentNll(RwkvNetwork network, int[] document)
    {
        using RwkvState state = network.CreateState(1);
        double total = 0;
        for (int p = 0; p + 1 < document.Length; p++)
        {
            using var scope = NewDisposeScope();
            Tensor logProbabilities = network.ForwardStep(tensor(new long[] { document[p] }, [1], ScalarType.Int64), state).log_softmax(-1);
            total -= logProbabilities[0, document[p + 1]].to(ScalarType.Float64).item<double>();
        }
        return total;
    }

    [FixtureFact]
    public void Batched_chunked_scores_equal_token_by_token_recurrent_scores()
    {
        using RwkvNetwork network = RwkvNetwork.Create(GgmlModelLoader.Load(Fixtures.Path("rwkvcpp", "tiny-rwkv-6v0-1m-FP32.bin")));
        int[][] documents = Texts.Select(Utf16LeByteTokenizer.Instance.Encode).ToArray();
        double expected = documents.Sum(d => RecurrentNll(network, d));

        PerplexityResult result = PerplexityEvaluator.Evaluate(network, documents, Utf16LeByteTokenizer.Instance,
            new EvaluationOptions { BatchSize = 3, MaxChunkLength = 17 });

        Assert.Equal(documents.Sum(d => d.Length - 1), result.TokenCount);
        Assert.Equal(expected, result.NegativeLogLikelihood, 1e-4 * expected);
        Assert.InRange(result.BitsPerByte, 0.5, 4.0); // a trained model on English: far below 8 bits per byte
    }

    [FixtureFact]
    public void Fp32_against_q5_0_weights_gives_a_small_positive_divergence()
    {
        using RwkvNetwork fp32 = RwkvNetwork.Create(GgmlModelLoader.Load(Fixtures.Path("rwkvcpp", "tiny-rwkv-6v0-1m-FP32.bin")));
        using RwkvNetwork q5 = RwkvNetwork.Create(GgmlModelLoader.Load(Fixtures.Path("rwkvcpp", "tiny-rwkv-6v0-1m-Q5_0.bin")));
        int[][] documents = Texts.Select(Utf16LeByteTokenizer.Instance.Encode).ToArray();

        KlDivergenceResult self = KlDivergenceEvaluator.Evaluate(fp32, fp32, documents);
        KlDivergenceResult quantized = KlDivergenceEvaluator.Evaluate(fp32, q5, documents, new EvaluationOptions { BatchSize = 2, MaxChunkLength = 9 });

        Assert.Equal(0.0, self.TotalKl, 1e-9);
        Assert.True(quantized.MeanKl > 1e-6, $"mean KL {quantized.MeanKl}");
        Assert.True(quantized.MeanKl < 0.5, $"mean KL {quantized.MeanKl}");
        Assert.True(quantized.Top1Agreement > 0.5);
    }
}
