using System.Runtime.InteropServices;
using RwkvQuant.Formats.Ggml;
using RwkvQuant.Models;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace RwkvQuant.Tests.Models;

public class RwkvNetworkV6V7Tests(ITestOutputHelper output)
{
    private static readonly long[] Prompt = [34, 105, 110]; // "in after a quote: the fixtures' expected-logits prompt

    [FixtureTheory]
    [InlineData("tiny-rwkv-6v0-1m-FP32.bin", "expected-logits-6v0-1m.bin", 1e-4)]
    [InlineData("tiny-rwkv-7v0-834K-FP32.bin", "expected-logits-7v0-834K.bin", 1e-4)]
    [InlineData("tiny-rwkv-6v0-1m-FP16.bin", "expected-logits-6v0-1m.bin", 0.01)]
    [InlineData("tiny-rwkv-7v0-834K-FP16.bin", "expected-logits-7v0-834K.bin", 0.01)]
    [InlineData("tiny-rwkv-6v0-1m-Q5_0.bin", "expected-logits-6v0-1m.bin", 0.25)]
    [InlineData("tiny-rwkv-6v0-1m-Q5_1.bin", "expected-logits-6v0-1m.bin", 0.25)]
    [InlineData("tiny-rwkv-7v0-834K-Q5_0.bin", "expected-logits-7v0-834K.bin", 0.25)]
    [InlineData("tiny-rwkv-7v0-834K-Q5_1.bin", "expected-logits-7v0-834K.bin", 0.25)]
    [InlineData("tiny-rwkv-6v0-3m-Q5_0.bin", "expected-logits-6v0-3m.bin", 0.25)]
    [InlineData("tiny-rwkv-6v0-3m-Q5_1.bin", "expected-logits-6v0-3m.bin", 0.25)]
    public void Logits_match_rwkv_cpp(string file, string expectedFile, double tolerance)
    {
        float[] expected = MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(Fixtures.Path("rwkvcpp", expectedFile))).ToArray();
        using RwkvNetwork network = RwkvNetwork.Create(GgmlModelLoader.Load(Fixtures.Path("rwkvcpp", file)));
        using var scope = NewDisposeScope();
        float[] actual = network.Forward(tensor(Prompt, [1, Prompt.Length])).select(1, Prompt.Length - 1).reshape(-1).data<float>().ToArray();
        double maxDifference = MaxDifference(expected, actual);
        output.WriteLine($"{file}: max |logit - rwkv.cpp| = {maxDifference:E3}");
        Assert.True(maxDifference < tolerance, $"max difference {maxDifference} exceeds {tolerance}");
    }

    [FixtureTheory]
    [InlineData("tiny-rwkv-6v0-1m-FP32.bin")]
    [InlineData("tiny-rwkv-7v0-834K-FP32.bin")]
    public void Recurrent_mode_agrees_with_sequence_mode(string file)
    {
        using RwkvNetwork network = RwkvNetwork.Create(GgmlModelLoader.Load(Fixtures.Path("rwkvcpp", file)));
        using var scope = NewDisposeScope();
        long[] tokens = [72, 101, 108, 108, 111, 33, 10, 87, 104, 97, 116, 63, 32, 0, 255, 7, 65];
        var batch = tensor(tokens[..7].Concat(tokens[10..17]).ToArray(), [2, 7]); // two different sequences, odd length
        float[] sequence = network.Forward(batch).data<float>().ToArray(); // [2, 7, V]

        using RwkvState state = network.CreateState(2);
        var perStep = new Tensor[7];
        for (int t = 0; t < 7; t++)
            perStep[t] = network.ForwardStep(batch.select(1, t), state); // [2, V]
        float[] recurrent = stack(perStep, 1).data<float>().ToArray();   // [2, 7, V]

        AssertClose(sequence, recurrent, $"{file}: sequence vs recurrent");
    }

    [FixtureTheory]
    [InlineData("tiny-rwkv-6v0-1m-FP32.bin")]
    [InlineData("tiny-rwkv-7v0-834K-FP32.bin")]
    public void State_carried_across_calls_equals_one_call(string file)
    {
        using RwkvNetwork network = RwkvNetwork.Create(GgmlModelLoader.Load(Fixtures.Path("rwkvcpp", file)));
        using var scope = NewDisposeScope();
        var tokens = tensor(new long[] { 10, 20, 30, 40, 50, 60, 70, 80, 90, 11, 21, 31, 41, 51, 61, 71, 81, 91 }, [2, 9]);
        float[] whole = network.Forward(tokens).narrow(1, 5, 4).data<float>().ToArray();

        using RwkvState state = network.CreateState(2);
        using (NewDisposeScope())
            network.Forward(tokens.narrow(1, 0, 5), state); // the state must outlive this scope
        float[] continued = network.Forward(tokens.narrow(1, 5, 4), state).data<float>().ToArray();

        AssertClose(whole, continued, $"{file}: one call vs two calls");
    }

    [FixtureTheory]
    [InlineData("tiny-rwkv-6v0-1m-FP32.bin", GgmlType.F32)]
    [InlineData("tiny-rwkv-6v0-1m-FP32.bin", GgmlType.F16)]
    [InlineData("tiny-rwkv-7v0-834K-FP32.bin", GgmlType.F32)]
    [InlineData("tiny-rwkv-7v0-834K-FP32.bin", GgmlType.F16)]
    public void Written_file_gives_the_same_logits_as_the_converter_file(string file, GgmlType type)
    {
        string source = Fixtures.Path("rwkvcpp", file);
        string reference = type == GgmlType.F32 ? source : source.Replace("-FP32.bin", "-FP16.bin", StringComparison.Ordinal);
        using var written = new MemoryStream();
        GgmlModelWriter.Write(GgmlModelLoader.Load(source), written, type);
        written.Position = 0;
        using RwkvNetwork fromWritten = RwkvNetwork.Create(GgmlModelLoader.Load(written, "written.bin"));
        using RwkvNetwork fromReference = RwkvNetwork.Create(GgmlModelLoader.Load(reference));
        using var scope = NewDisposeScope();
        var tokens = tensor(Prompt, [1, Prompt.Length]);
        Assert.Equal(fromReference.Forward(tokens).data<float>().ToArray(), fromWritten.Forward(tokens).data<float>().ToArray());
    }

    [FixtureFact]
    public void Rejects_a_state_of_another_batch_size()
    {
        using RwkvNetwork network = RwkvNetwork.Create(GgmlModelLoader.Load(Fixtures.Path("rwkvcpp", "tiny-rwkv-7v0-834K-FP32.bin")));
        using RwkvState state = network.CreateState(3);
        using var tokens = tensor(new long[] { 1, 2 }, [2, 1]);
        Assert.Throws<ArgumentException>(() => network.Forward(tokens, state));
    }

    /// <summary>
    /// Both modes compute the same function, but BLAS sums in another order for [B, T, C] than for [B, 1, C]:
    /// allow 1e-5 per unit of logit magnitude (a few float32 ulps at |logit| ≈ 16).
    /// </summary>
    private void AssertClose(float[] expected, float[] actual, string what)
    {
        double maxDifference = MaxDifference(expected, actual);
        double scale = Math.Max(1, expected.Max(v => Math.Abs(v)));
        output.WriteLine($"{what}: max abs difference {maxDifference:E3} (max |logit| {scale:F2})");
        Assert.True(maxDifference < 1e-5 * scale, $"{what}: max difference {maxDifference} exceeds 1e-5 x {scale:F2}");
    }

    private static double MaxDifference(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        double max = 0;
        for (int i = 0; i < a.Length; i++)
            max = Math.Max(max, Math.Abs((double)a[i] - b[i]));
        return max;
    }
}
