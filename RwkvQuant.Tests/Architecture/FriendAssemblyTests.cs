using System.Reflection;
using System.Runtime.CompilerServices;
using RwkvQuant.Kernels.Packed;
using RwkvQuant.Models;

namespace RwkvQuant.Tests.Architecture;

/// <summary>
/// The shipped libraries open their internals only to their own tests and benchmarks (and Kernels to the CUDA proof app
/// and ILGPU's generated runtime assembly): the command line is an app like any other and does what it does through the
/// public API, so an outside app can do it too.
/// </summary>
public class FriendAssemblyTests
{
    private static string[] FriendsOf(Assembly assembly) =>
        [.. assembly.GetCustomAttributes<InternalsVisibleToAttribute>().Select(a => a.AssemblyName).Order(StringComparer.Ordinal)];

    [Fact]
    public void Core_opens_its_internals_only_to_its_tests_and_benchmarks()
    {
        Assert.Equal(["RwkvQuant.Benchmarks", "RwkvQuant.Tests"], FriendsOf(typeof(RwkvModel).Assembly));
    }

    [Fact]
    public void Kernels_opens_its_internals_to_neither_Core_nor_the_command_line()
    {
        string[] friends = FriendsOf(typeof(KQuantType).Assembly);
        Assert.DoesNotContain("RwkvQuant.Core", friends);
        Assert.DoesNotContain("rwkvquant", friends);
        Assert.Contains("RwkvQuant.Tests", friends);
    }
}
