namespace RwkvQuant.Evaluation;

/// <summary>How documents are batched through the network when scoring them. Immutable; validated on set.</summary>
public sealed record EvaluationOptions
{
    /// <summary>Defaults: batches of 32 documents, chunks of at most 1024 positions, at most 2²⁶ logits (256 MiB) per chunk.</summary>
    public static EvaluationOptions Default { get; } = new();

    /// <summary>Documents run side by side in one forward call (1 or more; default 32). Documents are sorted by
    /// length and packed so that a batch holds documents of similar length, which keeps padding small.</summary>
    public int BatchSize
    {
        get;
        init => field = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(BatchSize), value, "The batch size must be at least 1.");
    } = 32;

    /// <summary>Most positions per forward call (1 or more; default 1024). Longer documents run in chunks with the
    /// recurrent state carried from one chunk to the next, which gives the same result as one call.</summary>
    public int MaxChunkLength
    {
        get;
        init => field = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(MaxChunkLength), value, "The chunk length must be at least 1.");
    } = 1024;

    /// <summary>Most logits (batch × chunk × vocabulary) held at once (at least the vocabulary size; default 2²⁶).
    /// Chunks are shortened to stay under it, so large vocabularies do not exhaust memory.</summary>
    public long MaxLogitElements
    {
        get;
        init => field = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(MaxLogitElements), value, "The logit budget must be positive.");
    } = 1L << 26;
}
