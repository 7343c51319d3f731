using System.Buffers.Binary;
using RwkvQuant.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace RwkvQuant.Tests.Models;

/// <summary>Checks shared by the forward-pass tests of every RWKV version.</summary>
internal static class NetworkChecks
{
    /// <summary>The prompt of the expected-logits fixtures: the bytes <c>"</c>, <c>i</c>, <c>n</c>.</summary>
    public static readonly long[] Prompt = [34, 105, 110];

    /// <summary>rwkv.cpp's FP32 logits after <see cref="Prompt"/> from an empty state.</summary>
    public static float[] ExpectedLogits(string tag)
    {
        byte[] bytes = File.ReadAllBytes(Fixtures.Path("rwkvcpp", $"expected-logits-{tag}.bin"));
        var values = new float[bytes.Length / 4];
        for (int i = 0; i < values.Length; i++)
            values[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(4 * i));
        return values;
    }

    /// <summary>Logits after <see cref="Prompt"/>, by sequence mode and by recurrent mode.</summary>
    public static (float[] Sequence, float[] Recurrent) PromptLogits(RwkvNetwork network)
    {
        using var scope = torch.NewDisposeScope();
        Tensor all = network.Forward(torch.tensor(Prompt, [1, Prompt.Length]));
        float[] sequence = all[0, Prompt.Length - 1].data<float>().ToArray();
        using RwkvState state = network.CreateState();
        Tensor last = null!;
        foreach (long token in Prompt)
            last = network.ForwardStep(torch.tensor(new[] { token }), state);
        return (sequence, last[0].data<float>().ToArray());
    }

    public static float MaxAbsDifference(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        Assert.Equal(a.Length, b.Length);
        float max = 0;
        for (int i = 0; i < a.Length; i++)
            max = Math.Max(max, Math.Abs(a[i] - b[i]));
        return max;
    }

    /// <summary>Σ (a − b), the figure rwkv.cpp's tests hold quantized models to.</summary>
    public static double SignedDifferenceSum(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        Assert.Equal(a.Length, b.Length);
        double sum = 0;
        for (int i = 0; i < a.Length; i++)
            sum += a[i] - b[i];
        return sum;
    }

    /// <summary>Two different sequences of odd length 7, as int64 <c>[2, 7]</c> values.</summary>
    public static readonly long[] Batch = [72, 101, 108, 108, 111, 44, 32, /**/ 87, 111, 114, 108, 100, 33, 10];

    /// <summary>Max |sequence-mode − recurrent-mode| logits over a batch of two odd-length sequences.</summary>
    public static float RecurrentVersusSequence(RwkvNetwork network)
    {
        using var scope = torch.NewDisposeScope();
        Tensor tokens = torch.tensor(Batch, [2, 7]);
        Tensor sequence = network.Forward(tokens);                    // [2, 7, V]
        using RwkvState state = network.CreateState(2);
        var steps = new Tensor[7];
        for (int t = 0; t < 7; t++)
            steps[t] = network.ForwardStep(tokens[.., t], state);       // [2, V]
        Tensor recurrent = torch.stack(steps, 1);
        Assert.Equal(sequence.shape, recurrent.shape);
        // The two sequences differ, so their logits must too (guards against batch rows being mixed up).
        Assert.True((sequence[0] - sequence[1]).abs().max().item<float>() > 1e-3f);
        return (sequence - recurrent).abs().max().item<float>();
    }

    /// <summary>Max |one Forward over 7 tokens − two Forward calls of 3 and 4 tokens carrying the state|.</summary>
    public static float SplitVersusWhole(RwkvNetwork network)
    {
        using var scope = torch.NewDisposeScope();
        Tensor tokens = torch.tensor(Batch, [2, 7]);
        Tensor whole = network.Forward(tokens);
        using RwkvState state = network.CreateState(2);
        Tensor first, second;
        using (torch.NewDisposeScope())
        {
            // A caller's scope around the first call must not dispose the state it advanced.
            first = network.Forward(tokens[.., ..3], state).MoveToOuterDisposeScope();
        }
        second = network.Forward(tokens[.., 3..], state);
        Tensor split = torch.cat([first, second], 1);
        return (whole - split).abs().max().item<float>();
    }
}
