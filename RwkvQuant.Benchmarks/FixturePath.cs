namespace RwkvQuant.Benchmarks;

/// <summary>Finds the shared fixtures: <c>RWKVQUANT_FIXTURES</c>, else <c>../shared/fixtures</c> beside the repository.</summary>
internal static class FixturePath
{
    public static string Find(params string[] parts)
    {
        string? root = Environment.GetEnvironmentVariable("RWKVQUANT_FIXTURES");
        if (string.IsNullOrEmpty(root))
        {
            // BenchmarkDotNet runs each benchmark from a generated folder under bin/, so walk up to the solution.
            for (DirectoryInfo? directory = new(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
            {
                if (File.Exists(Path.Combine(directory.FullName, "RwkvQuant.sln")))
                {
                    root = Path.Combine(directory.FullName, "..", "shared", "fixtures");
                    break;
                }
            }
        }
        string path = Path.Combine([root ?? "", .. parts]);
        return File.Exists(path)
            ? path
            : throw new FileNotFoundException($"Benchmark fixture '{path}' not found: set RWKVQUANT_FIXTURES or place the repository beside ../shared/fixtures.", path);
    }
}
