using System.Diagnostics;
using RwkvQuant.Models;
using RwkvQuant.Tokenizers;
using TorchSharp;
using static TorchSharp.torch;

namespace RwkvQuant.Evaluation;

/// <summary>
/// Scores tokenized documents with a network: each document starts from the empty state, its first token is
/// context only, and every later token t is scored by −ln p(t | tokens before it). Documents are sorted by length
/// and run in padded batches; long documents run in chunks with the recurrent state carried across chunks.
/// </summary>
public static class PerplexityEvaluator
{
    /// <summary>Evaluates <paramref name="documents"/> (token ids) with <paramref name="network"/>.</summary>
    /// <param name="network">The model.</param>
    /// <param name="documents">Tokenized documents; every id must be below the network's vocabulary size.</param>
    /// <param name="tokenizer">The tokenizer that produced the documents; it gives the byte count of the scored
    /// tokens (see <see cref="PerplexityResult.ByteCount"/>).</param>
    /// <param name="options">Batching; <see cref="EvaluationOptions.Default"/> when null.</param>
    /// <param name="progress">Reports after every forward chunk.</param>
    /// <param name="cancellationToken">Checked between chunks.</param>
    /// <exception cref="ArgumentException">No document has two tokens, or a token is outside the vocabulary.</exception>
    public static PerplexityResult Evaluate(
        RwkvNetwork network,
        IReadOnlyList<int[]> documents,
        ITokenizer tokenizer,
        EvaluationOptions? options = null,
        IProgress<EvaluationProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(tokenizer);
        options ??= EvaluationOptions.Default;
        var stopwatch = Stopwatch.StartNew();
        int vocabulary = network.Config.VocabularySize;
        var batches = new DocumentBatches(documents, vocabulary, options.BatchSize);
        if (batches.TokenCount == 0)
            throw new ArgumentException("No document has the two tokens needed to score one.", nameof(documents));

        long byteCount = 0;
        foreach (int[] batch in batches.Batches)
            foreach (int d in batch)
                byteCount += tokenizer.DecodeBytes(batches.Document(d).AsSpan(1)).Length;

        double nll = 0;
        long tokensDone = 0;
        int documentsDone = 0;
        progress?.Report(new EvaluationProgress(0, batches.DocumentCount, 0, batches.TokenCount));
        foreach (int[] batch in batches.Batches)
        {
            (Tensor padded, int positions) = batches.Pad(batch);
            using (padded)
            using (RwkvState state = network.CreateState(batch.Length))
            {
                int chunk = DocumentBatches.ChunkLength(options, batch.Length, vocabulary);
                for (int start = 0; start < positions; start += chunk)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    int end = Math.Min(start + chunk, positions);
                    nll += ChunkNll(network, state, batches, batch, padded, start, end);
                    tokensDone += batches.ScoredPositions(batch, start, end);
                    progress?.Report(new EvaluationProgress(documentsDone, batches.DocumentCount, tokensDone, batches.TokenCount));
                }
            }
            documentsDone += batch.Length;
            progress?.Report(new EvaluationProgress(documentsDone, batches.DocumentCount, tokensDone, batches.TokenCount));
        }
        // Documents too short to score count as done as well.
        progress?.Report(new EvaluationProgress(batches.DocumentCount, batches.DocumentCount, tokensDone, batches.TokenCount));
        return new PerplexityResult(batches.DocumentCount, batches.TokenCount, byteCount, nll, stopwatch.Elapsed);
    }

    private static double ChunkNll(RwkvNetwork network, RwkvState state, DocumentBatches batches, int[] batch, Tensor padded, int start, int end)
    {
        using var scope = NewDisposeScope();
        Tensor input = padded[.., start..end];                                   // [B, t]
        Tensor targets = padded[.., (start + 1)..(end + 1)];                    // [B, t]
        Tensor logProbabilities = network.Forward(input, state).log_softmax(-1); // [B, t, V]
        Tensor nll = -logProbabilities.gather(-1, targets.unsqueeze(-1)).squeeze(-1);            // [B, t]
        Tensor mask = batches.Mask(batch, start, end);
        // Sum in float64: a long evaluation adds up 10⁵–10⁶ terms.
        return (nll.to(ScalarType.Float64) * mask.to(ScalarType.Float64)).sum().item<double>();
    }
}
