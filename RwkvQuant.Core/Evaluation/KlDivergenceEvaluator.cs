using System.Diagnostics;
using RwkvQuant.Models;
using static TorchSharp.torch;

namespace RwkvQuant.Evaluation;

/// <summary>
/// Compares two networks over the same vocabulary (e.g. a quantized model against its full-precision original)
/// by the KL divergence of their next-token distributions on the same documents. The positions compared are the
/// ones <see cref="PerplexityEvaluator"/> scores (0 … n − 2 of each document, from the empty state), batched
/// and chunked the same way.
/// </summary>
public static class KlDivergenceEvaluator
{
    /// <summary>KL(reference ‖ candidate) per position, summed and maximised over <paramref name="documents"/>.</summary>
    /// <exception cref="ArgumentException">The vocabularies differ, no document has two tokens, or a token is
    /// outside the vocabulary.</exception>
    public static KlDivergenceResult Evaluate(
        RwkvNetwork reference,
        RwkvNetwork candidate,
        IReadOnlyList<int[]> documents,
        EvaluationOptions? options = null,
        IProgress<EvaluationProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(reference);
        ArgumentNullException.ThrowIfNull(candidate);
        int vocabulary = reference.Config.VocabularySize;
        if (candidate.Config.VocabularySize != vocabulary)
            throw new ArgumentException($"The candidate's vocabulary ({candidate.Config.VocabularySize}) differs from the reference's ({vocabulary}).", nameof(candidate));
        options ??= EvaluationOptions.Default;
        var stopwatch = Stopwatch.StartNew();
        var batches = new DocumentBatches(documents, vocabulary, options.BatchSize);
        if (batches.TokenCount == 0)
            throw new ArgumentException("No document has the two tokens needed to compare a prediction.", nameof(documents));

        double total = 0, max = 0;
        long agreements = 0, tokensDone = 0;
        int documentsDone = 0;
        foreach (int[] batch in batches.Batches)
        {
            (Tensor padded, int positions) = batches.Pad(batch);
            using (padded)
            using (RwkvState referenceState = reference.CreateState(batch.Length))
            using (RwkvState candidateState = candidate.CreateState(batch.Length))
            {
                // Two sets of logits are alive at once, so each chunk gets half the budget.
                int chunk = DocumentBatches.ChunkLength(options with { MaxLogitElements = Math.Max(1, options.MaxLogitElements / 2) }, batch.Length, vocabulary);
                for (int start = 0; start < positions; start += chunk)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    int end = Math.Min(start + chunk, positions);
                    using var scope = NewDisposeScope();
                    Tensor input = padded[.., start..end];                                        // [B, t]
                    Tensor logP = reference.Forward(input, referenceState).log_softmax(-1);        // [B, t, V]
                    Tensor logQ = candidate.Forward(input, candidateState).log_softmax(-1);        // [B, t, V]
                    Tensor kl = (logP.exp() * (logP - logQ)).sum(-1).to(ScalarType.Float64);      // [B, t]
                    Tensor mask = batches.Mask(batch, start, end).to(ScalarType.Float64);          // [B, t]
                    total += (kl * mask).sum().item<double>();
                    max = Math.Max(max, (kl * mask).max().item<double>());
                    Tensor agree = logP.argmax(-1).eq(logQ.argmax(-1)).to(ScalarType.Float64);      // [B, t]
                    agreements += (long)Math.Round((agree * mask).sum().item<double>());
                    tokensDone += batches.ScoredPositions(batch, start, end);
                    progress?.Report(new EvaluationProgress(documentsDone, batches.DocumentCount, tokensDone, batches.TokenCount));
                }
            }
            documentsDone += batch.Length;
        }
        progress?.Report(new EvaluationProgress(batches.DocumentCount, batches.DocumentCount, tokensDone, batches.TokenCount));
        return new KlDivergenceResult(batches.TokenCount, total, max, agreements, stopwatch.Elapsed);
    }
}
