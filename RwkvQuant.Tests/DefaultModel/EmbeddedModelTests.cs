using RwkvQuant.Corpora;
using RwkvQuant.DefaultModel;
using RwkvQuant.Evaluation;
using RwkvQuant.Formats;
using RwkvQuant.Models;
using RwkvQuant.Tests.Training;
using RwkvQuant.Tokenizers;
using static TorchSharp.torch;

namespace RwkvQuant.Tests.DefaultModel;

public sealed class EmbeddedModelTests
{
    [Fact]
    public void The_embedded_weights_are_a_byte_level_rwkv7_of_4_layers_by_256_stored_in_fp16()
    {
        RwkvModel model = EmbeddedModel.Load();
        Assert.Equal(RwkvVersion.V7, model.Config.Version);
        Assert.Equal(4, model.Config.LayerCount);
        Assert.Equal(256, model.Config.EmbeddingSize);
        Assert.Equal(256, model.Config.VocabularySize);
        Assert.Equal(EmbeddedModel.Tokenizer.VocabularySize, model.Config.VocabularySize);
        Assert.IsType<ByteTokenizer>(EmbeddedModel.Tokenizer);
        Assert.Equal(3_608_320, model.ParameterCount);
        Assert.All(model.Tensors.Values, t => Assert.Equal(TensorDataType.F16, t.Type)); // a model keeps its stored precision
        Assert.All(EmbeddedModel.ReadFile().Tensors, t => Assert.Equal(TensorDataType.F16, t.Type));
        Assert.Contains(EmbeddedModel.ResourceName, model.SourcePath, StringComparison.Ordinal); // errors name the resource
    }

    [Fact]
    public void A_forward_pass_on_text_gives_finite_logits_that_predict_better_than_chance()
    {
        RwkvModel model = EmbeddedModel.Load();
        using RwkvNetwork network = RwkvNetwork.Create(model);
        int[] tokens = EmbeddedModel.Tokenizer.Encode("Gets or sets the value associated with the specified key.");
        using var scope = NewDisposeScope();
        Tensor logits = network.Forward(tensor(tokens.Select(t => (long)t).ToArray(), [1, tokens.Length])); // [1, T, 256]
        Assert.Equal([1L, tokens.Length, 256L], logits.shape);
        Assert.True(logits.isfinite().all().item<bool>());
        // Mean next-byte loss well under the 8 bits of a uniform guess.
        Tensor logP = logits[0].narrow(0, 0, tokens.Length - 1).log_softmax(-1);              // [T-1, 256]
        Tensor next = tensor(tokens.Skip(1).Select(t => (long)t).ToArray()).unsqueeze(1);      // [T-1, 1]
        double bits = -logP.gather(1, next).mean().item<float>() / Math.Log(2);
        Assert.True(bits < 4, $"{bits:F3} bits per byte");
    }

    [ReferencePackFact]
    public void Validation_bits_per_byte_show_a_trained_model()
    {
        IReadOnlyList<string> validation = ReferencePackCorpus.Load().Texts(CorpusSplit.Validation);
        // 12 short documents spread over the split (its order follows the assemblies); short, because sequence mode
        // runs the recurrence one position at a time.
        int[][] documents = [.. Enumerable.Range(0, 48).Select(i => validation[i * validation.Count / 48])
            .Where(text => text.Length is > 20 and <= 200).Take(12).Select(EmbeddedModel.Tokenizer.Encode)];
        Assert.Equal(12, documents.Length);
        using RwkvNetwork network = RwkvNetwork.Create(EmbeddedModel.Load());
        PerplexityResult result = PerplexityEvaluator.Evaluate(network, documents, EmbeddedModel.Tokenizer);
        Assert.True(result.BitsPerByte < 3, $"{result.BitsPerByte:F3} bits per byte on {result.ByteCount} bytes");
        Assert.True(result.BitsPerByte > 0.1, $"{result.BitsPerByte:F3} bits per byte on {result.ByteCount} bytes");
    }
}
