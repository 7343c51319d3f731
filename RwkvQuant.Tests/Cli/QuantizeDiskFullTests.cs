using System.Diagnostics;
using RwkvQuant.Models;

namespace RwkvQuant.Tests.Cli;

/// <summary>
/// A quantization whose writes fail — the disk fills up, or the file system refuses a file that large — ends in one
/// error line that names the path the user gave, and leaves nothing behind: no temporary file beside the output or in
/// the temporary folder, and an older file at the output path untouched. The failure is real: the built
/// <c>rwkvquant</c> runs in a child process under a file-size limit (<c>ulimit -f</c>, with SIGXFSZ ignored so that
/// an oversized write fails with EFBIG as on a full or FAT32 disk instead of killing the process), at three points:
/// while the quantized tensors are kept in their temporary file, while the output is written, and while the
/// calibration activations are spilled.
/// </summary>
public class QuantizeDiskFullTests
{
    private const string Old = "an older file that must survive";

    [UnixTheory]
    [InlineData(300, 2, "while keeping tensor")]   // the quantized tensors' temporary file (~1.8 MB) outgrows the limit
    [InlineData(1800, 2, "")]                     // the output itself (1.9 MB) does, as it is written
    [InlineData(1000, 32, "calibration activations")] // 32 samples' activations (8 MB) do, before any block is quantized
    public async Task A_failed_write_is_one_error_line_naming_the_output_and_leaves_nothing(int limitKilobytes, int samples, string context)
    {
        // The test process loads TorchSharp first, so that its one-time repair of the native library beside the
        // tool (TorchSharpNative) is done before the child process, whose file-size limit would stop that write.
        using (TorchSharp.torch.zeros(1)) { }

        string folder = Directory.CreateTempSubdirectory("rwkvquant-full-").FullName;
        try
        {
            string output = Path.Combine(folder, "out.rwkvq");
            await File.WriteAllTextAsync(output, Old);
            string tool = Path.Combine(AppContext.BaseDirectory, "rwkvquant");
            string command = $"trap '' XFSZ; ulimit -f {limitKilobytes}; exec '{tool}' quantize --samples {samples} --sample-tokens {(samples == 2 ? 16 : 256)} " +
                $"--eval-bytes 0 --bench-tokens 0 -o '{output}'";
            var start = new ProcessStartInfo("bash", ["-c", command])
            {
                // Its own folder: other tests change this process's current folder to one they delete, and libtorch's MKL
                // dies ("Cannot load libtorch_cpu.so", exit 2) in a process started in a folder that no longer exists.
                WorkingDirectory = folder,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                Environment =
                {
                    ["TMPDIR"] = folder,                         // the activations' spill file goes here, where the test can look
                    ["DOTNET_EnableWriteXorExecute"] = "0",      // the runtime's double-mapped code pages are files too
                },
            };
            using Process process = Process.Start(start)!;
            Task<string> stdout = process.StandardOutput.ReadToEndAsync(), stderr = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            string error = await stderr;
            await stdout;

            Assert.True(process.ExitCode == 1, $"exit code {process.ExitCode}\n{error}");
            string[] errors = [.. error.Split('\n').Where(l => l.StartsWith("rwkvquant: error:", StringComparison.Ordinal))];
            string line = Assert.Single(errors);
            string expectedPath = samples == 2 ? output : folder;
            Assert.StartsWith($"rwkvquant: error: Cannot write '{expectedPath}", line, StringComparison.Ordinal);
            Assert.Contains("does not allow a file this large", line, StringComparison.Ordinal);
            Assert.Contains(context, line, StringComparison.Ordinal);
            Assert.Equal([output], Directory.GetFiles(folder)); // no spill, no temporary output
            Assert.Equal(Old, await File.ReadAllTextAsync(output));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}

/// <summary>A theory that needs a Unix shell's per-process file-size limit: skipped on Windows, with the reason.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class UnixTheoryAttribute : TheoryAttribute
{
    public UnixTheoryAttribute()
    {
        if (OperatingSystem.IsWindows())
            Skip = "Windows has no per-process file-size limit (ulimit -f) to make a write fail; the same code paths run there untested by this test.";
    }
}
