using static TorchSharp.torch;

namespace RwkvQuant.Evaluation;

/// <summary>
/// Packs tokenized documents into padded batches of similar length and walks them in chunks of positions, the
/// bookkeeping shared by the evaluators. Position p of a document is scored by the logits at p, predicting
/// token p + 1; positions 0 … n − 2 of a document of n tokens are scored, padding never is.
/// </summary>
internal sealed class DocumentBatches
{
    private readonly IReadOnlyList<int[]> _documents;

    public DocumentBatches(IReadOnlyList<int[]> documents, int vocabularySize, int batchSize)
    {
        ArgumentNullException.ThrowIfNull(documents);
        for (int d = 0; d < documents.Count; d++)
        {
            int[] document = documents[d] ?? throw new ArgumentException($"Document {d} is null.", nameof(documents));
            for (int i = 0; i < document.Length; i++)
            {
                if ((uint)document[i] >= (uint)vocabularySize)
                    throw new ArgumentException($"Document {d} has token {document[i]} at position {i}, outside the network's vocabulary of {vocabularySize}.", nameof(documents));
            }
        }
        _documents = documents;
        // Longest first, so every batch holds documents of similar length and the first batch shows the
        // peak memory at once.
        int[] order = Enumerable.Range(0, documents.Count)
            .Where(d => documents[d].Length >= 2)
            .OrderByDescending(d => documents[d].Length)
            .ThenBy(d => d)
            .ToArray();
        Batches = order.Chunk(batchSize).ToArray();
        TokenCount = order.Sum(d => (long)documents[d].Length - 1);
        DocumentCount = documents.Count;
    }

    /// <summary>Document indices per batch; documents with fewer than two tokens are left out.</summary>
    public int[][] Batches { get; }

    /// <summary>Tokens to score over all documents.</summary>
    public long TokenCount { get; }

    /// <summary>Documents given (including those too short to score).</summary>
    public int DocumentCount { get; }

    public int[] Document(int index) => _documents[index];

    /// <summary>Positions per forward call for a batch of <paramref name="batchSize"/>.</summary>
    public static int ChunkLength(EvaluationOptions options, int batchSize, int vocabularySize) =>
        (int)Math.Clamp(options.MaxLogitElements / ((long)batchSize * vocabularySize), 1, options.MaxChunkLength);

    /// <summary>
    /// The padded tokens of a batch, int64 <c>[B, L]</c> (padding is token 0, after each document's end, so it
    /// never influences scored positions), and the number of positions to feed, L − 1.
    /// </summary>
    public (Tensor Tokens, int Positions) Pad(int[] batch)
    {
        int length = batch.Max(d => _documents[d].Length);
        var tokens = new long[batch.Length * length];
        for (int b = 0; b < batch.Length; b++)
        {
            int[] document = _documents[batch[b]];
            for (int i = 0; i < document.Length; i++)
                tokens[b * length + i] = document[i];
        }
        return (tensor(tokens, [batch.Length, length], ScalarType.Int64), length - 1);
    }

    /// <summary>Float32 mask <c>[B, end − start]</c>: 1 where position p of document b is scored (p + 1 &lt; n_b).</summary>
    public Tensor Mask(int[] batch, int start, int end)
    {
        int width = end - start;
        var mask = new float[batch.Length * width];
        for (int b = 0; b < batch.Length; b++)
        {
            int last = _documents[batch[b]].Length - 1; // positions < last are scored
            for (int p = start; p < Math.Min(end, last); p++)
                mask[b * width + (p - start)] = 1f;
        }
        return tensor(mask, [batch.Length, width], ScalarType.Float32);
    }

    /// <summary>Scored positions of a batch inside [start, end).</summary>
    public long ScoredPositions(int[] batch, int start, int end) =>
        batch.Sum(d => (long)Math.Max(0, Math.Min(end, _documents[d].Length - 1) - start));
}
