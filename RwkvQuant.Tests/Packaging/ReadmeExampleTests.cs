using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using RwkvQuant.Kernels.Packed;
using RwkvQuant.Models;

namespace RwkvQuant.Tests.Packaging;

/// <summary>
/// Every C# listing in README.md compiles, as a console app's top-level program with the SDK's implicit usings, against
/// the library as built (RwkvQuant.Core, RwkvQuant.Kernels, TorchSharp): an API change that the README does not follow
/// fails here. (The quick-start is also built and run as a real consumer app by <see cref="ConsumerAppTests"/>.)
/// </summary>
public class ReadmeExampleTests
{
    private const string ImplicitUsings = """
        global using System;
        global using System.Collections.Generic;
        global using System.IO;
        global using System.Linq;
        global using System.Net.Http;
        global using System.Threading;
        global using System.Threading.Tasks;
        """;

    public static TheoryData<int> Listings => new(Enumerable.Range(0, ReadListings().Count));

    [Theory]
    [MemberData(nameof(Listings))]
    public void The_readmes_csharp_listing_compiles(int index)
    {
        string listing = ReadListings()[index];
        var parse = new CSharpParseOptions(LanguageVersion.Latest);
        CSharpCompilation compilation = CSharpCompilation.Create($"readme-listing-{index}",
            [CSharpSyntaxTree.ParseText(listing, parse), CSharpSyntaxTree.ParseText(ImplicitUsings, parse)],
            References(),
            new CSharpCompilationOptions(OutputKind.ConsoleApplication, nullableContextOptions: NullableContextOptions.Enable));
        Diagnostic[] errors = [.. compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error)];
        Assert.True(errors.Length == 0,
            $"README listing {index} (starting '{listing.Split('\n')[0]}') does not compile:\n{string.Join("\n", errors.Select(e => e.ToString()))}");
    }

    private static List<string> ReadListings()
    {
        string readme = File.ReadAllText(Path.Combine(RepositoryRoot(), "README.md"));
        return [.. Regex.Matches(readme, "```csharp\n(.*?)```", RegexOptions.Singleline).Select(m => m.Groups[1].Value)];
    }

    private static IEnumerable<MetadataReference> References()
    {
        string[] framework = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator);
        string[] library = [typeof(RwkvModel).Assembly.Location, typeof(KQuantType).Assembly.Location, typeof(TorchSharp.torch).Assembly.Location];
        return framework.Where(p => Path.GetFileName(p).StartsWith("System.", StringComparison.Ordinal) || Path.GetFileName(p) is "mscorlib.dll" or "netstandard.dll")
            .Concat(library)
            .Distinct()
            .Select(p => MetadataReference.CreateFromFile(p));
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
