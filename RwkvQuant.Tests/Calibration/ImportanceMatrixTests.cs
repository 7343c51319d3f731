using RwkvQuant.Calibration;
using RwkvQuant.Corpora;
using RwkvQuant.Formats;
using RwkvQuant.Formats.Safetensors;
using RwkvQuant.ModelFiles;
using RwkvQuant.Models;
using RwkvQuant.Quantization;
using RwkvQuant.Tokenizers;

namespace RwkvQuant.Tests.Calibration;

public sealed class ImportanceMatrixTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("rwkvquant-imatrix-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static CalibrationData Calibration() => CalibrationData.FromCorpus(Fixtures.Path("text", "lambada_test.jsonl"),
        DocumentRange.Parse("0..15"), ByteTokenizer.Instance, new CalibrationOptions { SampleCount = 3, TokensPerSample = 48, BatchSize = 2 });

    [FixtureTheory]
    [InlineData("tiny-rwkv-7v0-834K-FP32.bin")]
    [InlineData("tiny-rwkv-6v0-1m-FP32.bin")] // time_maa_w2: the stacked [C, 5D] matrix
    public void Each_entry_is_half_the_diagonal_of_the_layers_hessian(string file)
    {
        RwkvModel model = RwkvModelFile.Load(Fixtures.Path("rwkvcpp", file));
        CalibrationData data = Calibration();
        ImportanceMatrix importance = ImportanceMatrix.Collect(model, data, "test");
        IReadOnlyDictionary<string, Hessian> hessians = HessianCollector.Collect(model, data);
        IReadOnlyList<string> matrices = RwkvQuant.Pipeline.HybridQuantizer.BlockMatrices(model);
        Assert.Equal(matrices.Order(StringComparer.Ordinal), importance.Columns.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(data.TokenCount, importance.TokenCount);
        foreach (string name in matrices)
        {
            float[] s = importance.For(name)!;
            Hessian h = hessians[name];
            Assert.Equal(h.Size, s.Length);
            for (int j = 0; j < s.Length; j++)
                Assert.Equal(h[j, j] / 2, s[j], 1e-5 * Math.Max(1, h[j, j])); // the Hessian sums float32 products
        }
    }

    [FixtureFact]
    public void Save_and_load_keep_every_value_and_the_description()
    {
        RwkvModel model = RwkvModelFile.Load(Fixtures.Path("rwkvcpp", "tiny-rwkv-7v0-834K-FP32.bin"));
        ImportanceMatrix importance = ImportanceMatrix.Collect(model, Calibration(), "lambada 0..15, 3 × 48");
        string path = Path.Combine(_directory, "m.imatrix");
        importance.Save(path);
        ImportanceMatrix loaded = ImportanceMatrix.Load(path);
        Assert.Equal(importance.TokenCount, loaded.TokenCount);
        Assert.Equal("lambada 0..15, 3 × 48", loaded.Description);
        foreach ((string name, float[] values) in importance.Columns)
            Assert.Equal(values, loaded.For(name));
        loaded.EnsureMatches(model);

        RwkvModel other = RwkvModelFile.Load(Fixtures.Path("rwkvcpp", "tiny-rwkv-6v0-1m-FP32.bin"));
        InvalidDataException mismatch = Assert.Throws<InvalidDataException>(() => loaded.EnsureMatches(other));
        Assert.StartsWith($"{path}: tensor 'blocks.0.", mismatch.Message, StringComparison.Ordinal);
        Assert.Contains("another model", mismatch.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_file_that_is_not_an_importance_matrix_or_holds_bad_values_is_refused_naming_file_and_entry()
    {
        string plain = Path.Combine(_directory, "plain.safetensors");
        SafetensorsWriter.Write(plain, [TensorData.FromFloats("blocks.0.att.key.weight", [4], [1, 2, 3, 4])]);
        InvalidDataException notOne = Assert.Throws<InvalidDataException>(() => ImportanceMatrix.Load(plain));
        Assert.StartsWith($"{plain}: not an importance matrix", notOne.Message, StringComparison.Ordinal);

        var metadata = new Dictionary<string, string> { ["format"] = ImportanceMatrix.FormatName, ["version"] = "1", ["tokens"] = "10" };
        string negative = Path.Combine(_directory, "negative.imatrix");
        SafetensorsWriter.Write(negative, [TensorData.FromFloats("blocks.0.att.key.weight", [3], [1, -2, 3])], metadata);
        InvalidDataException bad = Assert.Throws<InvalidDataException>(() => ImportanceMatrix.Load(negative));
        Assert.Equal($"{negative}: tensor 'blocks.0.att.key.weight': importance 1 is -2; importances are finite and not negative.", bad.Message);

        string nan = Path.Combine(_directory, "nan.imatrix");
        SafetensorsWriter.Write(nan, [TensorData.FromFloats("blocks.0.att.key.weight", [2], [float.NaN, 1])], metadata);
        Assert.Contains("importance 0 is NaN", Assert.Throws<InvalidDataException>(() => ImportanceMatrix.Load(nan)).Message, StringComparison.Ordinal);

        string matrix = Path.Combine(_directory, "matrix.imatrix");
        SafetensorsWriter.Write(matrix, [TensorData.FromFloats("blocks.0.att.key.weight", [2, 2], [1, 2, 3, 4])], metadata);
        Assert.Contains("1-D F32 vector; this one is F32 [2, 2]", Assert.Throws<InvalidDataException>(() => ImportanceMatrix.Load(matrix)).Message, StringComparison.Ordinal);

        string tokens = Path.Combine(_directory, "tokens.imatrix");
        SafetensorsWriter.Write(tokens, [TensorData.FromFloats("a", [1], [1])], new Dictionary<string, string>(metadata) { ["tokens"] = "-3" });
        Assert.Contains("\"tokens\" is not a positive whole number", Assert.Throws<InvalidDataException>(() => ImportanceMatrix.Load(tokens)).Message, StringComparison.Ordinal);
    }
}
