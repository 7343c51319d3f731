using RwkvQuant.Inference;
using RwkvQuant.Models;
using static TorchSharp.torch;

namespace RwkvQuant.Generation;

/// <summary>
/// Generates tokens in recurrent mode: the prompt runs through the network in one sequence-mode call, then each
/// new token is sampled from the last logits and fed back with <see cref="RwkvNetwork.ForwardStep"/>, carrying
/// the state. With an <see cref="RwkvEngine"/> every token, prompt included, is one engine step.
/// </summary>
public static class TextGenerator
{
    /// <summary>
    /// Yields up to <paramref name="maxTokens"/> new tokens after <paramref name="prompt"/>, lazily (one forward
    /// step per token). Stops early after <paramref name="stopToken"/> (which is not yielded).
    /// </summary>
    /// <exception cref="ArgumentException">The prompt is empty or holds a token outside the vocabulary.</exception>
    public static IEnumerable<int> Generate(
        RwkvNetwork network,
        IReadOnlyList<int> prompt,
        int maxTokens,
        SamplingOptions? sampling = null,
        int? stopToken = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(network);
        ValidatePrompt(prompt, maxTokens, network.Config.VocabularySize, "network");
        return Run(network, prompt, maxTokens, new TokenSampler(sampling ?? new SamplingOptions()), stopToken, cancellationToken);
    }

    /// <summary>
    /// As <see cref="Generate(RwkvNetwork, IReadOnlyList{int}, int, SamplingOptions?, int?, CancellationToken)"/>, on
    /// the inference engine (the prompt is fed one step per token).
    /// </summary>
    /// <exception cref="ArgumentException">The prompt is empty or holds a token outside the vocabulary.</exception>
    public static IEnumerable<int> Generate(
        RwkvEngine engine,
        IReadOnlyList<int> prompt,
        int maxTokens,
        SamplingOptions? sampling = null,
        int? stopToken = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ValidatePrompt(prompt, maxTokens, engine.Config.VocabularySize, "engine");
        return Run(engine, prompt, maxTokens, new TokenSampler(sampling ?? new SamplingOptions()), stopToken, cancellationToken);
    }

    private static void ValidatePrompt(IReadOnlyList<int> prompt, int maxTokens, int vocabulary, string runner)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentOutOfRangeException.ThrowIfNegative(maxTokens);
        if (prompt.Count == 0)
            throw new ArgumentException("The prompt has no tokens; generation needs at least one.", nameof(prompt));
        foreach (int token in prompt)
        {
            if ((uint)token >= (uint)vocabulary)
                throw new ArgumentException($"Prompt token {token} is outside the {runner}'s vocabulary of {vocabulary}.", nameof(prompt));
        }
    }

    private static IEnumerable<int> Run(RwkvEngine engine, IReadOnlyList<int> prompt, int maxTokens, TokenSampler sampler, int? stopToken, CancellationToken cancellationToken)
    {
        RwkvEngineState state = engine.CreateState();
        float[] logits = engine.Prefill(prompt, state, cancellationToken);
        for (int n = 0; n < maxTokens; n++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int next = sampler.Sample(logits);
            if (next == stopToken)
                yield break;
            yield return next;
            if (n + 1 == maxTokens)
                yield break;
            engine.Step(next, state, logits);
        }
    }

    private static IEnumerable<int> Run(RwkvNetwork network, IReadOnlyList<int> prompt, int maxTokens, TokenSampler sampler, int? stopToken, CancellationToken cancellationToken)
    {
        using RwkvState state = network.CreateState(1);
        float[] logits;
        using (var scope = NewDisposeScope())
        {
            Tensor tokens = tensor(prompt.Select(t => (long)t).ToArray(), [1, prompt.Count], ScalarType.Int64);
            logits = network.Forward(tokens, state)[0, -1].to(ScalarType.Float32).data<float>().ToArray(); // [V]
        }
        for (int n = 0; n < maxTokens; n++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int next = sampler.Sample(logits);
            if (next == stopToken)
                yield break;
            yield return next;
            if (n + 1 == maxTokens)
                yield break;
            using var scope = NewDisposeScope();
            Tensor input = tensor(new long[] { next }, [1], ScalarType.Int64);
            logits = network.ForwardStep(input, state)[0].to(ScalarType.Float32).data<float>().ToArray(); // [V]
        }
    }
}
