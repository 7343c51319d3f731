using System.Runtime;
using System.Runtime.InteropServices;

namespace RwkvQuant.Native;

/// <summary>
/// Hands memory that work has finished with back to the operating system, between the stages of long work (after
/// each block of sequential calibration). Two things otherwise keep the process's resident memory near its worst
/// moment for the rest of a run: the .NET large-object heap (a block's float32 weights, Hessians and dequantized copies
/// are hundreds of MB to GBs of garbage, which on a machine with much free memory the collector has no reason to
/// reclaim soon), and glibc's allocator, under libtorch, which keeps freed chunks in its arenas.
/// </summary>
internal static partial class NativeMemory
{
    private static bool _noTrim;

    /// <summary>
    /// A full blocking, compacting collection (finalizers run, so undisposed torch tensors free their native memory;
    /// the second collection is aggressive, handing the heap's free memory back),
    /// then, on Linux with glibc, <c>malloc_trim(0)</c>. Costs milliseconds to a few hundred; call it between large
    /// pieces of work (each quantized matrix, each block), not in inner loops.
    /// </summary>
    public static void Release()
    {
        GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        // Aggressive: also decommits the heap's free memory, which the collector otherwise keeps committed (measured: 2.2
        // GB committed under a 0.03 GB heap between two blocks of a 1.5B model).
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        Trim();
    }

    /// <summary>
    /// Only <c>malloc_trim(0)</c> (on Linux with glibc): hands back the pages of the chunks libtorch has freed, which
    /// glibc otherwise keeps (a block's matrices left several GB of such pages at width 2048). Milliseconds; no
    /// collection. Call it after each large piece of native work.
    /// </summary>
    public static void Trim()
    {
        if (!OperatingSystem.IsLinux() || _noTrim)
            return;
        try
        {
            _ = MallocTrim(0); // 1 if memory was released; nothing to do either way
        }
        catch (Exception exception) when (exception is DllNotFoundException or EntryPointNotFoundException)
        {
            _noTrim = true; // not glibc (musl): nothing to trim this way
        }
    }

    [LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int MallocTrim(nuint pad);
}
