using Microsoft.Win32.SafeHandles;
using RwkvQuant.Formats;
using static TorchSharp.torch;

namespace RwkvQuant.Calibration;

/// <summary>
/// A temporary file of float32 tensors, written and read back whole by slot: where <see cref="BlockInputs"/> keeps the
/// calibration activations between block passes, so that they cost page cache (which the system may drop) rather
/// than resident memory while the block's Hessians and quantizers hold the most. Values come back bit for bit.
/// The file lives in <see cref="Path.GetTempPath"/> (<c>TMPDIR</c>) and is always deleted: on Unix its name is
/// removed as soon as it is open (even a killed process leaves nothing), on Windows it is opened delete-on-close.
/// </summary>
internal sealed class ActivationSpill : IDisposable
{
    private readonly SafeFileHandle _file;
    private long _length;

    /// <summary>Opens a new, empty spill file in the system's temporary folder.</summary>
    public ActivationSpill() : this(System.IO.Path.GetTempPath())
    {
    }

    /// <summary>Opens a new, empty spill file in <paramref name="folder"/>.</summary>
    internal ActivationSpill(string folder)
    {
        Path = System.IO.Path.Combine(folder, $"rwkvquant-activations-{Guid.NewGuid():N}.tmp");
        try
        {
            _file = File.OpenHandle(Path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Delete, FileOptions.DeleteOnClose);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"Cannot create the calibration activations' temporary file {Path}: {e.Message} (set TMPDIR to a writable folder).", e);
        }
        if (!OperatingSystem.IsWindows())
            File.Delete(Path);
    }

    /// <summary>The file's name (already removed on Unix, where only the open handle reaches it).</summary>
    public string Path { get; }

    /// <summary>The bytes written so far.</summary>
    public long Length => _length;

    /// <summary>A new slot at the end of the file holding <paramref name="tensor"/>'s values.</summary>
    public Slot Append(Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        var slot = new Slot(_length, tensor.shape);
        _length += slot.Bytes;
        Write(slot, tensor);
        return slot;
    }

    /// <summary>Overwrites <paramref name="slot"/> with <paramref name="tensor"/>, which must have the slot's shape.</summary>
    public void Write(Slot slot, Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (tensor.dtype != ScalarType.Float32 || !tensor.shape.SequenceEqual(slot.Shape))
        {
            throw new ArgumentException(
                $"The slot holds float32 [{string.Join(", ", slot.Shape)}]; the tensor is {tensor.dtype} [{string.Join(", ", tensor.shape)}].", nameof(tensor));
        }
        using Tensor contiguous = tensor.contiguous();
        try
        {
            RandomAccess.Write(_file, contiguous.bytes, slot.Offset);
        }
        catch (Exception e) when (AtomicFile.IsWriteFailure(e))
        {
            throw AtomicFile.WriteFailure(Path, e, $" (the calibration activations, {slot.Bytes:N0} bytes at {slot.Offset:N0}; set TMPDIR to a folder with more room)");
        }
    }

    /// <summary>A new float32 tensor with <paramref name="slot"/>'s shape and values.</summary>
    public Tensor Read(Slot slot)
    {
        Tensor tensor = empty(slot.Shape, ScalarType.Float32);
        try
        {
            Span<byte> bytes = tensor.bytes;
            for (int done = 0; done < bytes.Length;)
            {
                int read = RandomAccess.Read(_file, bytes[done..], slot.Offset + done);
                if (read == 0)
                    throw new IOException($"The calibration activations' temporary file {Path} ended at {slot.Offset + done:N0} bytes, inside a slot of {slot.Bytes:N0} bytes at {slot.Offset:N0}.");
                done += read;
            }
            return tensor;
        }
        catch
        {
            tensor.Dispose();
            throw;
        }
    }

    /// <summary>Closes the file, which deletes it.</summary>
    public void Dispose() => _file.Dispose();

    /// <summary>Where one tensor's values lie in the file.</summary>
    internal sealed record Slot(long Offset, long[] Shape)
    {
        /// <summary>The slot's size: four bytes a value.</summary>
        public long Bytes => Shape.Aggregate(1L, (n, d) => n * d) * sizeof(float);
    }
}
