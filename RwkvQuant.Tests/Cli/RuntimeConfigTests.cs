using System.Text.Json;

namespace RwkvQuant.Tests.Cli;

/// <summary>The command line's runtime settings, as the build writes them beside rwkvquant.dll.</summary>
public class RuntimeConfigTests
{
    [Fact]
    public void Our_code_is_compiled_optimised_at_its_first_call_so_one_processor_does_not_leave_the_kernels_unoptimised()
    {
        // With QuickJit on, a machine or container the runtime sees as one processor decoded the default model 6-10x
        // slower in `bench` and `generate`: the multiplied tiering delay kept the kernels unoptimised (RwkvQuant.Cli.csproj).
        string path = Path.Combine(AppContext.BaseDirectory, "rwkvquant.runtimeconfig.json");
        using JsonDocument config = JsonDocument.Parse(File.ReadAllText(path));
        JsonElement properties = config.RootElement.GetProperty("runtimeOptions").GetProperty("configProperties");
        Assert.False(properties.GetProperty("System.Runtime.TieredCompilation.QuickJit").GetBoolean());
    }
}
