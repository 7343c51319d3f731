using RwkvQuant.Evaluation;
using RwkvQuant.Tokenizers;

namespace RwkvQuant.Tests.Evaluation;

public class PerplexityEvaluatorTests
{
    private static int[][] RandomDocuments(int count, int vocabulary, int maxLength, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count)
            .Select(_ => Enumerable.Range(0, random.Next(0, maxLength + 1)).Select(_ => random.Next(vocabulary)).ToArray())
            .ToArray();
    }

    [Fact]
    public void A_uniform_network_scores_ln_V_nats_per_token()
    {
        using var network = new TwoTokenNetwork(new float[256, 256], new float[256, 256]);
        int[][] documents = [[1, 2, 3, 4], [5, 6], [7, 8, 9]];
        PerplexityResult result = PerplexityEvaluator.Evaluate(network, documents, ByteTokenizer.Instance);
        Assert.Equal(3 + 1 + 2, result.TokenCount);
        Assert.Equal(6, result.ByteCount);
        Assert.Equal(Math.Log(256), result.NatsPerToken, 1e-6);
        Assert.Equal(8.0, result.BitsPerToken, 1e-6);
        Assert.Equal(8.0, result.BitsPerByte, 1e-6);
        Assert.Equal(256.0, result.Perplexity, 1e-3);
    }

    [Theory]
    [InlineData(1, 1024)]
    [InlineData(3, 1024)]
    [InlineData(4, 5)]
    [InlineData(16, 1)]
    [InlineData(7, 3)]
    public void Batched_and_chunked_scores_equal_the_exact_per_document_sum(int batchSize, int chunkLength)
    {
        using var network = TwoTokenNetwork.Random(vocabulary: 13, seed: 5);
        int[][] documents = RandomDocuments(23, 13, 40, seed: batchSize * 100 + chunkLength);
        double expected = documents.Sum(network.ExactNll);
        long expectedTokens = documents.Sum(d => Math.Max(0, d.Length - 1));

        PerplexityResult result = PerplexityEvaluator.Evaluate(network, documents, ByteTokenizer.Instance,
            new EvaluationOptions { BatchSize = batchSize, MaxChunkLength = chunkLength });

        Assert.Equal(expectedTokens, result.TokenCount);
        Assert.Equal(expectedTokens, result.ByteCount);
        Assert.Equal(documents.Length, result.DocumentCount);
        Assert.Equal(expected, result.NegativeLogLikelihood, expected * 1e-6);
    }

    [Fact]
    public void The_logit_budget_shortens_chunks_without_changing_the_result()
    {
        using var network = TwoTokenNetwork.Random(vocabulary: 11, seed: 9);
        int[][] documents = RandomDocuments(9, 11, 60, seed: 3);
        PerplexityResult wide = PerplexityEvaluator.Evaluate(network, documents, ByteTokenizer.Instance);
        int callsBefore = network.ForwardCalls;
        PerplexityResult narrow = PerplexityEvaluator.Evaluate(network, documents, ByteTokenizer.Instance,
            new EvaluationOptions { BatchSize = 9, MaxLogitElements = 9 * 11 * 4 }); // 4 positions per call
        Assert.Equal(wide.NegativeLogLikelihood, narrow.NegativeLogLikelihood, 1e-6 * wide.NegativeLogLikelihood);
        int longest = documents.Max(d => d.Length);
        Assert.Equal((longest - 1 + 3) / 4, network.ForwardCalls - callsBefore);
    }

    [Fact]
    public void Bytes_are_counted_in_the_tokenizers_encoding()
    {
        // UTF-8 "é" is two tokens; the first token is context only, so the document scores 1 token of 1 byte.
        using var network = new TwoTokenNetwork(new float[256, 256], new float[256, 256]);
        int[] document = ByteTokenizer.Instance.Encode("aé");  // 61 C3 A9
        PerplexityResult result = PerplexityEvaluator.Evaluate(network, [document], ByteTokenizer.Instance);
        Assert.Equal(2, result.TokenCount);
        Assert.Equal(2, result.ByteCount);
    }

    [Fact]
    public void Progress_reaches_the_total_and_cancellation_stops()
    {
        using var network = TwoTokenNetwork.Random(vocabulary: 7, seed: 1);
        int[][] documents = RandomDocuments(10, 7, 30, seed: 2);
        var reports = new List<EvaluationProgress>();
        PerplexityResult result = PerplexityEvaluator.Evaluate(network, documents, ByteTokenizer.Instance,
            new EvaluationOptions { BatchSize = 3, MaxChunkLength = 8 }, new SynchronousProgress<EvaluationProgress>(reports.Add));
        Assert.Equal(new EvaluationProgress(10, 10, result.TokenCount, result.TokenCount), reports[^1]);
        Assert.True(reports.Zip(reports.Skip(1)).All(p => p.Second.TokensDone >= p.First.TokensDone));

        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.Throws<OperationCanceledException>(() =>
            PerplexityEvaluator.Evaluate(network, documents, ByteTokenizer.Instance, cancellationToken: cancelled.Token));
    }

    [Fact]
    public void Bad_input_is_rejected()
    {
        using var network = TwoTokenNetwork.Random(vocabulary: 5, seed: 1);
        Assert.Throws<ArgumentException>(() => PerplexityEvaluator.Evaluate(network, [[1], []], ByteTokenizer.Instance));
        var exception = Assert.Throws<ArgumentException>(() => PerplexityEvaluator.Evaluate(network, [[1, 2], [3, 5]], ByteTokenizer.Instance));
        Assert.Contains("Document 1 has token 5", exception.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => new EvaluationOptions { BatchSize = 0 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new EvaluationOptions { MaxChunkLength = -1 });
    }
}

/// <summary>An <see cref="IProgress{T}"/> that calls back on the reporting thread (Progress&lt;T&gt; posts to the pool).</summary>
internal sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
