using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;
using RwkvQuant.ModelFiles;
using RwkvQuant.Models;
using RwkvQuant.Native;
using RwkvQuant.Pipeline;
using Xunit.Abstractions;

namespace RwkvQuant.Tests.Packaging;

/// <summary>
/// The NuGet packages work for a consuming app: RwkvQuant.Kernels and RwkvQuant.Core are packed (from this test run's
/// build, with a unique prerelease version) into a local folder feed; a throwaway console app in a temporary folder
/// outside the repository references RwkvQuant.Core from that feed and its platform's libtorch package (TorchSharp and the rest from nuget.org), and its
/// Program.cs — <c>Packaging/QuickStart/Program.cs</c>, the README's quick-start — quantizes a tiny real model through
/// the public API, saves and reloads the <c>.rwkvq</c> file and runs the network. The packages' README, XML
/// documentation, licence, repository commit and symbols package are checked on the way. Restores go to a temporary global
/// packages folder with the user's own as a read-only fallback, so the user's NuGet cache is left as it was.
/// On Linux with an old libstdc++ it also checks that RwkvQuant.Core's module initializer made the app's own copy of
/// TorchSharp's native library loadable. 50 s to 2 min measured on a loaded 2-core machine, most of it the app's
/// quantization; filter it out locally with <c>--filter Category!=Packaging</c>.
/// </summary>
public sealed class ConsumerAppTests(ITestOutputHelper output)
{
    private static readonly TimeSpan StepTimeout = TimeSpan.FromMinutes(4);
    private static readonly string[] PackedProjects = ["RwkvQuant.Kernels", "RwkvQuant.Core"];
    private static readonly string[] NetworkNames = ["original", "quantized"];

    [FixtureFact]
    [Trait("Category", "Packaging")]
    public void A_console_app_referencing_the_packed_Core_quantizes_and_runs_a_model()
    {
        string model = Fixtures.Path("rwkvcpp", "tiny-rwkv-7v0-834K-FP32.bin");
        string text = Fixtures.Path("text", "lambada_test.jsonl");
        string root = RepositoryRoot();
        string configuration = typeof(ConsumerAppTests).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
        string version = $"0.0.1-consumer.g{Guid.NewGuid():N}";
        string work = Path.Combine(Path.GetTempPath(), $"rwkvquant-consumer-{Guid.NewGuid():N}");
        string feed = Path.Combine(work, "feed"), app = Path.Combine(work, "app"), packages = Path.Combine(work, "packages");
        Directory.CreateDirectory(feed);
        Directory.CreateDirectory(app);
        try
        {
            // Pack what this run built (no rebuild), both packages at once.
            Task<string>[] packs =
            [
                .. PackedProjects.Select(project => Task.Run(() => Dotnet(root,
                    "pack", Path.Combine(root, project, project + ".csproj"), "-c", configuration, "--no-build", "-o", feed,
                    $"-p:Version={version}", $"-p:NuspecOutputPath={Path.Combine(work, "nuspec", project)}{Path.DirectorySeparatorChar}"))),
            ];
            Task.WaitAll(packs);
            Assert.True(File.Exists(Path.Combine(feed, $"RwkvQuant.Core.{version}.nupkg")), packs[1].Result);
            Assert.True(File.Exists(Path.Combine(feed, $"RwkvQuant.Kernels.{version}.nupkg")), packs[0].Result);
            foreach (string id in PackedProjects)
                AssertPackageContents(feed, id, version);

            WriteApp(app, feed, packages, version);
            string quantizedPath = Path.Combine(work, "model.rwkvq");
            Dotnet(app, "build");
            // The app has its own platform's libtorch only: RwkvQuant.Core no longer brings every platform's.
            string bin = Path.Combine(app, "bin");
            long bytes = Directory.GetFiles(bin, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"app output: {bytes / 1e6:F0} MB with {LibTorchPackage}"));
            if (LibTorchPackage != "libtorch-cpu")
            {
                string[] libtorch = [.. Directory.GetFiles(bin, "*torch_cpu*", SearchOption.AllDirectories).Select(f => Path.GetFileName(f))];
                Assert.Single(libtorch);
            }
            string log = Dotnet(app, "run", "--no-build", "--", model, text, quantizedPath);
            output.WriteLine(log);

            // What the app printed must be what the library computes here for the same model and file.
            RwkvModel source = RwkvModelFile.Load(model);
            QuantizedModel written = QuantizedModelFile.Load(quantizedPath);
            double planned = HybridPlan.ForScalarFraction(source).PlannedBitsPerWeight;
            Assert.Equal(planned, written.QuantizedBitsPerWeight, 12);
            Assert.Contains(string.Create(CultureInfo.InvariantCulture,
                $"bits per weight: {written.QuantizedBitsPerWeight:F4} (quantized tensors), {written.BitsPerWeight:F4} (whole model)"), log, StringComparison.Ordinal);
            Assert.InRange(written.QuantizedBitsPerWeight, 3.0, 4.5);
            Assert.Contains($"model: RWKV {source.Config.Version}, {source.Config.LayerCount} layers", log, StringComparison.Ordinal);

            // On a libstdc++ without GLIBCXX_3.4.32 (Debian 12) TorchSharp only loaded because RwkvQuant.Core's module
            // initializer marked that requirement weak in the app's own copy of libLibTorchSharp.so.
            if (OperatingSystem.IsLinux() && TorchSharpNative.Outcome is { } outcome && !outcome.Contains("nothing to do", StringComparison.Ordinal))
            {
                string[] copies = Directory.GetFiles(Path.Combine(app, "bin"), "libLibTorchSharp.so", SearchOption.AllDirectories);
                Assert.NotEmpty(copies);
                foreach (string copy in copies)
                    Assert.Equal(0, TorchSharpNative.MarkVersionNeedWeak(File.ReadAllBytes(copy), "GLIBCXX_3.4.32"));
            }

            foreach (string name in NetworkNames)
            {
                Match next = Regex.Match(log, $@"{name}: after ""Hello"" next byte (\d+), logit (-?[0-9.]+)");
                Assert.True(next.Success, log);
                Assert.InRange(int.Parse(next.Groups[1].Value, CultureInfo.InvariantCulture), 0, 255);
                Assert.True(double.IsFinite(Parse(next.Groups[2].Value)), log);
            }
        }
        finally
        {
            try
            {
                Directory.Delete(work, recursive: true);
            }
            catch (IOException)
            {
                // A leftover temporary folder is not a test failure.
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
    }

    [Fact]
    public void The_README_quick_start_and_the_Core_package_README_show_the_tested_program()
    {
        string root = RepositoryRoot();
        string program = Normalize(File.ReadAllText(QuickStartProgram(root)));
        Assert.Contains("HybridPlan.ForScalarFraction", program, StringComparison.Ordinal);
        string[] readmes = [Path.Combine(root, "README.md"), Path.Combine(root, "RwkvQuant.Core", "README.md")];
        foreach (string readme in readmes)
            Assert.True(Normalize(File.ReadAllText(readme)).Contains("```csharp\n" + program + "```\n", StringComparison.Ordinal),
                $"{readme} must show {QuickStartProgram(root)} verbatim in a ```csharp block.");
    }

    /// <summary>README, XML documentation, licence expression, repository commit, and a symbols package with the PDB.</summary>
    private static void AssertPackageContents(string feed, string id, string version)
    {
        using (ZipArchive package = ZipFile.OpenRead(Path.Combine(feed, $"{id}.{version}.nupkg")))
        {
            string[] entries = [.. package.Entries.Select(e => e.FullName)];
            Assert.Contains("README.md", entries);
            Assert.Contains($"lib/net10.0/{id}.dll", entries);
            Assert.Contains($"lib/net10.0/{id}.xml", entries);
            using var reader = new StreamReader(package.GetEntry($"{id}.nuspec")!.Open());
            string nuspec = reader.ReadToEnd();
            Assert.Contains("<license type=\"expression\">MIT</license>", nuspec, StringComparison.Ordinal);
            Assert.Contains("<readme>README.md</readme>", nuspec, StringComparison.Ordinal);
            Assert.Matches("<repository type=\"git\"[^>]* commit=\"[0-9a-f]{40}\"", nuspec);
        }
        using ZipArchive symbols = ZipFile.OpenRead(Path.Combine(feed, $"{id}.{version}.snupkg"));
        Assert.Contains(symbols.Entries, e => e.FullName == $"lib/net10.0/{id}.pdb");
    }

    private static string QuickStartProgram(string root) => Path.Combine(root, "RwkvQuant.Tests", "Packaging", "QuickStart", "Program.cs");

    private static string Normalize(string text) => text.Replace("\r\n", "\n", StringComparison.Ordinal);

    private static double Parse(string value) => double.Parse(value, NumberStyles.Float, CultureInfo.InvariantCulture);

    /// <summary>The throwaway app: its own project, NuGet.config and empty Directory.*.props so nothing of the repository applies.</summary>
    /// <summary>The libtorch an app on this machine adds next to RwkvQuant.Core (which brings TorchSharp without libtorch).</summary>
    private static string LibTorchPackage => System.Runtime.InteropServices.RuntimeInformation.RuntimeIdentifier switch
    {
        "linux-x64" or "osx-arm64" or "win-x64" => $"libtorch-cpu-{System.Runtime.InteropServices.RuntimeInformation.RuntimeIdentifier}",
        _ => "libtorch-cpu",
    };

    private static void WriteApp(string app, string feed, string packages, string version)
    {
        File.Copy(QuickStartProgram(RepositoryRoot()), Path.Combine(app, "Program.cs"));
        File.WriteAllText(Path.Combine(app, "QuickStart.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <Nullable>enable</Nullable>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="RwkvQuant.Core" Version="{version}" />
                <PackageReference Include="{LibTorchPackage}" Version="2.10.0" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(app, "Directory.Build.props"), "<Project />\n");
        File.WriteAllText(Path.Combine(app, "Directory.Build.targets"), "<Project />\n");
        File.WriteAllText(Path.Combine(app, "Directory.Packages.props"), "<Project />\n");
        string userPackages = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } configured
            ? configured
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        File.WriteAllText(Path.Combine(app, "NuGet.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <config>
                <add key="globalPackagesFolder" value="{packages}" />
              </config>
              <fallbackPackageFolders>
                <clear />
                <add key="user" value="{userPackages}" />
              </fallbackPackageFolders>
              <packageSources>
                <clear />
                <add key="local" value="{feed}" />
                <add key="nuget.org" value="https://api.nuget.org/v3/index.json" protocolVersion="3" />
              </packageSources>
              <packageSourceMapping>
                <packageSource key="local">
                  <package pattern="RwkvQuant.*" />
                </packageSource>
                <packageSource key="nuget.org">
                  <package pattern="*" />
                </packageSource>
              </packageSourceMapping>
            </configuration>
            """);
    }

    /// <summary>Runs <c>dotnet</c> and returns its output; fails the test with the output on a non-zero exit or a timeout.</summary>
    private string Dotnet(string directory, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
            start.ArgumentList.Add(argument);
        // No build servers: they would outlive this process holding its output pipes open.
        foreach (string key in start.Environment.Keys.Where(k => k.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase)).ToList())
            start.Environment.Remove(key);
        start.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        start.Environment["DOTNET_CLI_USE_MSBUILD_SERVER"] = "0";
        start.Environment["UseSharedCompilation"] = "false";
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";

        var stopwatch = Stopwatch.StartNew();
        var log = new StringBuilder();
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.AppendLine(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        string command = $"dotnet {string.Join(' ', arguments)} (in {directory})";
        if (!process.WaitForExit(StepTimeout))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"{command} ran longer than {StepTimeout}:\n{log}");
        }
        process.WaitForExit();
        string text;
        lock (log)
            text = log.ToString();
        output.WriteLine($"{command}: {stopwatch.Elapsed.TotalSeconds:F1} s");
        Assert.True(process.ExitCode == 0, $"{command} exited with {process.ExitCode}:\n{text}");
        return text;
    }

    private static string RepositoryRoot()
    {
        for (DirectoryInfo? directory = new(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "RwkvQuant.sln")))
                return directory.FullName;
        }
        throw new InvalidOperationException($"No RwkvQuant.sln above {AppContext.BaseDirectory}.");
    }
}
