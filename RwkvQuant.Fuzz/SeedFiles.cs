using RwkvQuant.Codebooks;
using RwkvQuant.Formats;
using RwkvQuant.Fuzz.Layouts;
using RwkvQuant.Kernels.Packed;
using RwkvQuant.ModelFiles;
using RwkvQuant.Models;
using RwkvQuant.Pipeline;
using RwkvQuant.Quantization;
using RwkvQuant.Scalar.KQuants;
using RwkvQuant.Scalar.Rtn;
using RwkvQuant.Vector.Gptvq;
using RwkvQuant.Vector.KMeans;

namespace RwkvQuant.Fuzz;

/// <summary>
/// The seed files, made from the shared fixtures: rwkv.cpp files as they are; the v7 834K model written as <c>.pth</c>
/// (by <see cref="RwkvModelFile.SavePth"/>, timestamps cleared) beside a real <c>torch.save</c> checkpoint, as F16
/// safetensors, and quantized as <c>.rwkvq</c> (RTN 3-bit, one Q3_K, one GPTVQ and one codebook-vector tensor).
/// </summary>
public static class SeedFiles
{
    /// <summary>The environment variable that names the fixtures folder (as the tests read it).</summary>
    public const string FixturesVariable = "RWKVQUANT_FIXTURES";

    private const string V7 = "tiny-rwkv-7v0-834K-FP16.bin";

    private static readonly string[] Matrices = [".att.receptance.weight", ".att.key.weight", ".att.value.weight", ".att.output.weight", ".ffn.key.weight", ".ffn.value.weight"];

    /// <summary>The fixtures folder: <see cref="FixturesVariable"/> if set, else <c>../shared/fixtures</c> beside the
    /// repository that holds this program; null when neither exists.</summary>
    public static string? LocateFixtures()
    {
        string? fromEnvironment = Environment.GetEnvironmentVariable(FixturesVariable);
        if (!string.IsNullOrEmpty(fromEnvironment))
            return Directory.Exists(fromEnvironment) ? Path.GetFullPath(fromEnvironment) : null;
        for (DirectoryInfo? directory = new(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "RwkvQuant.sln")))
            {
                string candidate = Path.Combine(directory.FullName, "..", "shared", "fixtures");
                return Directory.Exists(candidate) ? Path.GetFullPath(candidate) : null;
            }
        }
        return null;
    }

    /// <summary>Makes the seeds of <paramref name="format"/> from <paramref name="fixtures"/>, writing intermediate files
    /// under <paramref name="workDirectory"/>.</summary>
    public static IReadOnlyList<SeedFile> Create(FuzzFormat format, string fixtures, string workDirectory)
    {
        ArgumentException.ThrowIfNullOrEmpty(fixtures);
        Directory.CreateDirectory(workDirectory);
        string Fixture(params string[] parts) => Path.Combine([fixtures, .. parts]);
        SeedFile FromFile(string path) => SeedFile.Create(format, Path.GetFileName(path), File.ReadAllBytes(path));
        switch (format)
        {
            case FuzzFormat.Bin:
                return
                [
                    FromFile(Fixture("rwkvcpp", V7)),
                    FromFile(Fixture("rwkvcpp", "tiny-rwkv-7v0-834K-Q5_1.bin")),
                    FromFile(Fixture("rwkvcpp", "tiny-rwkv-4v0-660K-FP16.bin")),
                    FromFile(Fixture("rwkvcpp", "tiny-rwkv-6v0-1m-Q5_0.bin")),
                ];
            case FuzzFormat.Pth:
            {
                string path = Path.Combine(workDirectory, "v7-834K.pth");
                RwkvModelFile.SavePth(LoadV7(fixtures), path);
                byte[] bytes = File.ReadAllBytes(path);
                ZipLayout.ClearTimestamps(bytes);
                return [SeedFile.Create(format, "v7-834K.pth (SavePth)", bytes), FromFile(Fixture("pth", "260123_reverse_L2_only_rwkv7.pth"))];
            }
            case FuzzFormat.Safetensors:
            {
                string path = Path.Combine(workDirectory, "v7-834K-F16.safetensors");
                RwkvModelFile.SaveSafetensors(LoadV7(fixtures), path, TensorDataType.F16);
                return [SeedFile.Create(format, "v7-834K-F16.safetensors", File.ReadAllBytes(path))];
            }
            case FuzzFormat.Rwkvq:
            {
                string path = Path.Combine(workDirectory, "v7-834K.rwkvq");
                QuantizedModelFile.Save(Quantize(LoadV7(fixtures)), path);
                return [SeedFile.Create(format, "v7-834K.rwkvq", File.ReadAllBytes(path))];
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(format), format, null);
        }
    }

    private static RwkvModel LoadV7(string fixtures) => RwkvModelFile.Load(Path.Combine(fixtures, "rwkvcpp", V7));

    /// <summary>Every block matrix RTN 3-bit g64, except one Q3_K and one GPTVQ matrix; one vector as codebooks.</summary>
    private static QuantizedModel Quantize(RwkvModel model)
    {
        var rtn = new RoundToNearestQuantizer(new RoundToNearestOptions { Bits = 3, GroupSize = 64 });
        var q3k = new KQuantizer(new KQuantizerOptions(KQuantType.Q3_K));
        var gptvq = new GptvqQuantizer(new GptvqOptions { Codebooks = new KMeansOptions { MaxIterations = 5 }, RefinementIterations = 2 });
        var quantized = new List<QuantizedTensor>();
        // The square attention and feed-forward matrices, stored [out, in] as the quantizers take them.
        foreach (TensorData matrix in model.Tensors.Values.Where(t => t.Name.StartsWith("blocks.", StringComparison.Ordinal) && Matrices.Any(m => t.Name.EndsWith(m, StringComparison.Ordinal))))
        {
            quantized.Add(matrix.Name switch
            {
                "blocks.0.ffn.value.weight" => q3k.Quantize(matrix),
                "blocks.1.att.receptance.weight" => gptvq.Quantize(matrix, Hessian.Identity((int)matrix.Shape[1])),
                _ => rtn.Quantize(matrix),
            });
        }
        TensorData vector = model["blocks.0.att.x_r"];
        quantized.Add(new MultiplicationVectorTensor(new UnweightedCodebookOptimizer().Quantize(vector, Enumerable.Repeat(1f, (int)vector.ElementCount).ToArray())));
        return QuantizedModel.Create(model, quantized);
    }
}
