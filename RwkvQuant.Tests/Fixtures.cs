namespace RwkvQuant.Tests;

/// <summary>
/// Locates the shared fixtures: <c>RWKVQUANT_FIXTURES</c> if set, else <c>../shared/fixtures</c> beside the
/// repository root. When they are absent, fixture tests are skipped on a user's clone and fail under CI
/// (<c>CI=true</c>), where the fixtures must be present.
/// </summary>
internal static class Fixtures
{
    public const string EnvironmentVariable = "RWKVQUANT_FIXTURES";

    private static readonly Lazy<string?> Root = new(Locate);

    public static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>The fixtures folder, or null when it cannot be found.</summary>
    public static string? Directory => Root.Value;

    /// <summary>Full path of a fixture file, e.g. <c>Path("rwkvcpp", "tiny-rwkv-7v0-834K-FP32.bin")</c>.</summary>
    public static string Path(params string[] parts)
    {
        string root = Directory ?? throw new InvalidOperationException(MissingMessage);
        string path = System.IO.Path.Combine([root, .. parts]);
        if (!File.Exists(path) && !System.IO.Directory.Exists(path))
            throw new FileNotFoundException($"Fixture '{path}' is missing.", path);
        return path;
    }

    public static string MissingMessage =>
        $"The shared fixtures were not found (set {EnvironmentVariable} or place the repository beside ../shared/fixtures).";

    private static string? Locate()
    {
        string? fromEnvironment = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrEmpty(fromEnvironment))
            return System.IO.Directory.Exists(fromEnvironment) ? System.IO.Path.GetFullPath(fromEnvironment) : null;
        for (DirectoryInfo? directory = new(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(directory.FullName, "RwkvQuant.sln")))
            {
                string candidate = System.IO.Path.Combine(directory.FullName, "..", "shared", "fixtures");
                return System.IO.Directory.Exists(candidate) ? System.IO.Path.GetFullPath(candidate) : null;
            }
        }
        return null;
    }
}

/// <summary>A fact that needs the shared fixtures: skipped without them, except under CI where it runs and fails.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class FixtureFactAttribute : FactAttribute
{
    public FixtureFactAttribute()
    {
        if (Fixtures.Directory is null && !Fixtures.IsCi)
            Skip = Fixtures.MissingMessage;
    }
}

/// <summary>A theory that needs the shared fixtures: skipped without them, except under CI where it runs and fails.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class FixtureTheoryAttribute : TheoryAttribute
{
    public FixtureTheoryAttribute()
    {
        if (Fixtures.Directory is null && !Fixtures.IsCi)
            Skip = Fixtures.MissingMessage;
    }
}
