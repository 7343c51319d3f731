namespace RwkvQuant.Evaluation;

/// <summary>
/// The outcome of <see cref="PerplexityEvaluator"/>. Each document's first token is context only, so a document
/// of n tokens contributes n − 1 scored tokens and the bytes of those n − 1 tokens.
/// </summary>
/// <param name="DocumentCount">Documents evaluated (documents shorter than two tokens score nothing).</param>
/// <param name="TokenCount">Tokens scored (predicted).</param>
/// <param name="ByteCount">Bytes the scored tokens stand for, in the tokenizer's encoding (UTF-8 for the byte
/// and World tokenizers, UTF-16LE for the UTF-16LE byte tokenizer). For byte tokenizers this equals
/// <paramref name="TokenCount"/>.</param>
/// <param name="NegativeLogLikelihood">Σ −ln p(token | preceding tokens) over the scored tokens, in nats.</param>
/// <param name="Elapsed">Wall time of the evaluation.</param>
public sealed record PerplexityResult(int DocumentCount, long TokenCount, long ByteCount, double NegativeLogLikelihood, TimeSpan Elapsed)
{
    /// <summary>Mean negative log-likelihood in nats per token: <c>NLL / TokenCount</c>.</summary>
    public double NatsPerToken => NegativeLogLikelihood / TokenCount;

    /// <summary>Bits per token: <c>NLL / (TokenCount · ln 2)</c>.</summary>
    public double BitsPerToken => NatsPerToken / Math.Log(2);

    /// <summary>Bits per byte of the scored tokens' encoded text: <c>NLL / (ByteCount · ln 2)</c>.</summary>
    public double BitsPerByte => NegativeLogLikelihood / (ByteCount * Math.Log(2));

    /// <summary>Per-token perplexity <c>exp(NLL / TokenCount)</c>.</summary>
    public double Perplexity => Math.Exp(NatsPerToken);

    /// <summary>Scored tokens per second of wall time.</summary>
    public double TokensPerSecond => TokenCount / Math.Max(Elapsed.TotalSeconds, 1e-9);
}
