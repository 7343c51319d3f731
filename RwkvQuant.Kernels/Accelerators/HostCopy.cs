using ILGPU;
using ILGPU.Runtime;

namespace RwkvQuant.Kernels.Accelerators;

/// <summary>
/// Copies between host spans and device views with the host memory pinned for the whole copy.
/// </summary>
/// <remarks>
/// ILGPU's <c>CopyToCPU</c> / <c>CopyFromCPU</c> overloads that take <c>ref T</c> turn the reference into a raw pointer
/// (<c>CPUMemoryBuffer.Create</c>: "the base address of the pinned CPU buffer") and then allocate their wrapper object: a
/// garbage collection in between moves an unpinned managed array, and the copy reads from or writes to where the array
/// used to be. Under load this lost whole outputs (a centroid search returned every index 0 with the right distances)
/// and, with other threads allocating, corrupted the heap (a segmentation fault).
/// </remarks>
internal static unsafe class HostCopy
{
    /// <summary>Copies the first <c>destination.Length</c> elements of <paramref name="source"/> into <paramref name="destination"/> (synchronously).</summary>
    public static void ToHost<T>(ArrayView1D<T, Stride1D.Dense> source, Span<T> destination) where T : unmanaged
    {
        if (destination.IsEmpty)
            return;
        fixed (T* pointer = destination)
            source.SubView(0, destination.Length).CopyToCPU(ref *pointer, destination.Length);
    }

    /// <summary>Copies <paramref name="source"/> into the first <c>source.Length</c> elements of <paramref name="destination"/> (synchronously).</summary>
    public static void FromHost<T>(ArrayView1D<T, Stride1D.Dense> destination, ReadOnlySpan<T> source) where T : unmanaged
    {
        if (source.IsEmpty)
            return;
        fixed (T* pointer = source)
            destination.SubView(0, source.Length).CopyFromCPU(ref *pointer, source.Length);
    }

    /// <summary>A new device buffer holding <paramref name="data"/>; one (unread) element when it is empty.</summary>
    public static MemoryBuffer1D<T, Stride1D.Dense> Upload<T>(Accelerator accelerator, ReadOnlySpan<T> data) where T : unmanaged
    {
        MemoryBuffer1D<T, Stride1D.Dense> buffer = accelerator.Allocate1D<T>(Math.Max(1, data.Length));
        try
        {
            FromHost(buffer.View, data);
            return buffer;
        }
        catch
        {
            buffer.Dispose();
            throw;
        }
    }

    /// <summary>The whole of <paramref name="source"/> as a new array.</summary>
    public static T[] Download<T>(ArrayView1D<T, Stride1D.Dense> source) where T : unmanaged
    {
        var result = new T[source.Length];
        ToHost(source, result);
        return result;
    }
}
