using RwkvQuant.Models;

namespace RwkvQuant.Inference;

/// <summary>
/// The recurrent state of one sequence for an <see cref="RwkvEngine"/>: per layer the time-mix and channel-mix
/// token-shift vectors <c>[C]</c> and the WKV state <c>[H, N, N]</c> (in the layout of the version's network), plus
/// the scratch buffers of a step, so that several states can step on one engine at once. Created by
/// <see cref="RwkvEngine.CreateState"/>; advanced in place by <see cref="RwkvEngine.Step(int, RwkvEngineState)"/>.
/// </summary>
public sealed class RwkvEngineState
{
    internal RwkvEngineState(RwkvEngine owner, RwkvConfig config, object scratch)
    {
        Owner = owner;
        int c = config.EmbeddingSize, s = config.HeadCount * config.HeadSize * config.HeadSize;
        AttentionShift = new float[config.LayerCount][];
        FeedForwardShift = new float[config.LayerCount][];
        Wkv = new float[config.LayerCount][];
        for (int i = 0; i < config.LayerCount; i++)
        {
            AttentionShift[i] = new float[c];
            FeedForwardShift[i] = new float[c];
            Wkv[i] = new float[s];
        }
        Scratch = scratch;
    }

    /// <summary>Tokens this state has consumed.</summary>
    public long Position { get; internal set; }

    internal RwkvEngine Owner { get; }

    /// <summary>The time-mix token shift (the previous token's ln1 output) per layer.</summary>
    internal float[][] AttentionShift { get; }

    /// <summary>The channel-mix token shift (the previous token's ln2 output) per layer.</summary>
    internal float[][] FeedForwardShift { get; }

    /// <summary>The WKV state S per layer, <c>[H, N, N]</c>.</summary>
    internal float[][] Wkv { get; }

    /// <summary>The working buffers of the last run of tokens (the version's own type, re-made when a run's length changes).</summary>
    internal object Scratch { get; set; }

    /// <summary>Back to the zero state (rwkv.cpp's "empty state").</summary>
    public void Reset()
    {
        for (int i = 0; i < Wkv.Length; i++)
        {
            Array.Clear(AttentionShift[i]);
            Array.Clear(FeedForwardShift[i]);
            Array.Clear(Wkv[i]);
        }
        Position = 0;
    }
}
