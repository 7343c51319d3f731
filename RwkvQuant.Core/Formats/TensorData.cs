using System.Numerics;
using System.Runtime.InteropServices;

namespace RwkvQuant.Formats;

/// <summary>
/// One named tensor as stored in a model file: element type, shape in PyTorch order (outermost first), and its
/// little-endian bytes. Immutable once built; conversions return new arrays.
/// <para>The bytes are held in memory, or — for a tensor opened from a file that stores it as it is (safetensors) —
/// read from the file each time they are asked for (<see cref="IsFileBacked"/>): a model of any size can then be
/// opened and worked through one tensor at a time. Code that reads a tensor's bytes many times takes
/// <see cref="InMemory"/> first.</para>
/// </summary>
public sealed class TensorData
{
    private readonly byte[]? _bytes;
    private readonly FileRegion? _region;

    /// <summary>Creates a tensor over <paramref name="bytes"/> (taken, not copied).</summary>
    /// <exception cref="ArgumentException">The byte count does not match the shape and type.</exception>
    public TensorData(string name, TensorDataType type, IReadOnlyList<long> shape, byte[] bytes)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(bytes);
        long count = 1;
        foreach (long dimension in shape)
        {
            if (dimension < 0)
                throw new ArgumentException($"Tensor '{name}' has a negative dimension in shape [{string.Join(", ", shape)}].", nameof(shape));
            count = checked(count * dimension);
        }
        if (checked(count * type.SizeOf()) != bytes.LongLength)
            throw new ArgumentException($"Tensor '{name}' of type {type} and shape [{string.Join(", ", shape)}] needs {count * type.SizeOf()} bytes, got {bytes.LongLength}.", nameof(bytes));
        Name = name;
        Type = type;
        Shape = shape.ToArray();
        ElementCount = count;
        _bytes = bytes;
    }

    /// <summary>A tensor whose bytes stay in <paramref name="region"/> of a file until asked for.</summary>
    internal TensorData(string name, TensorDataType type, IReadOnlyList<long> shape, FileRegion region)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        long count = shape.Aggregate(1L, (a, b) => checked(a * b));
        if (checked(count * type.SizeOf()) != region.Length)
            throw new ArgumentException($"Tensor '{name}' of type {type} and shape [{string.Join(", ", shape)}] needs {count * type.SizeOf()} bytes, the file region holds {region.Length}.", nameof(region));
        Name = name;
        Type = type;
        Shape = shape.ToArray();
        ElementCount = count;
        _region = region;
    }

    /// <summary>Creates a float32 tensor from values (copied).</summary>
    public static TensorData FromFloats(string name, IReadOnlyList<long> shape, ReadOnlySpan<float> values) =>
        new(name, TensorDataType.F32, shape, MemoryMarshal.AsBytes(values).ToArray());

    /// <summary>Key of the tensor in its file or model.</summary>
    public string Name { get; }

    /// <summary>Stored element type.</summary>
    public TensorDataType Type { get; }

    /// <summary>Shape in PyTorch order (outermost dimension first).</summary>
    public IReadOnlyList<long> Shape { get; }

    /// <summary>Number of elements (the product of <see cref="Shape"/>).</summary>
    public long ElementCount { get; }

    /// <summary>The size of the bytes (known without reading a file-backed tensor).</summary>
    public long ByteCount => ElementCount * Type.SizeOf();

    /// <summary>The raw little-endian bytes; a file-backed tensor reads them from its file on every call.</summary>
    /// <exception cref="InvalidDataException">The file of a file-backed tensor can no longer be read (the message names it and the tensor).</exception>
    public ReadOnlySpan<byte> Bytes => _bytes ?? _region!.Read(Name);

    /// <summary>Whether the bytes stay in a file until asked for (see the class remarks).</summary>
    public bool IsFileBacked => _bytes is null;

    /// <summary>This tensor with its bytes in memory: itself when they are, else a copy read from the file once.</summary>
    public TensorData InMemory() => _bytes is not null ? this : new TensorData(Name, Type, Shape, _region!.Read(Name));

    /// <summary>A new array of the bytes: a copy of those in memory, or those read from the file (read once, not copied again).</summary>
    internal byte[] ToByteArray() => _bytes is not null ? _bytes.AsSpan().ToArray() : _region!.Read(Name);

    /// <summary>Returns a copy with another name (bytes shared; they are never mutated).</summary>
    public TensorData WithName(string name) => _bytes is not null ? new(name, Type, Shape, _bytes) : new(name, Type, Shape, _region!);

    /// <summary>Returns a copy with another shape of the same element count (bytes shared).</summary>
    public TensorData Reshape(IReadOnlyList<long> shape) => _bytes is not null ? new(Name, Type, shape, _bytes) : new(Name, Type, shape, _region!);

    /// <summary>Converts the values to a new float32 array. Works for the floating-point types.</summary>
    /// <exception cref="InvalidOperationException">The type is not floating point.</exception>
    public float[] ToFloatArray()
    {
        var result = new float[ElementCount];
        ReadOnlySpan<byte> bytes = Bytes;
        switch (Type)
        {
            case TensorDataType.F32:
                MemoryMarshal.Cast<byte, float>(bytes).CopyTo(result);
                break;
            case TensorDataType.F16:
                ReadOnlySpan<Half> halves = MemoryMarshal.Cast<byte, Half>(bytes);
                for (int i = 0; i < result.Length; i++)
                    result[i] = (float)halves[i];
                break;
            case TensorDataType.BF16:
                ReadOnlySpan<ushort> brains = MemoryMarshal.Cast<byte, ushort>(bytes);
                for (int i = 0; i < result.Length; i++)
                    result[i] = BitConverter.Int32BitsToSingle(brains[i] << 16);
                break;
            case TensorDataType.F64:
                ReadOnlySpan<double> doubles = MemoryMarshal.Cast<byte, double>(bytes);
                for (int i = 0; i < result.Length; i++)
                    result[i] = (float)doubles[i];
                break;
            default:
                throw new InvalidOperationException($"Tensor '{Name}' has type {Type}, which does not convert to float32.");
        }
        return result;
    }

    /// <summary>Returns this tensor as float32 (itself when already float32).</summary>
    public TensorData ToFloat32() => Type == TensorDataType.F32 ? this : FromFloats(Name, Shape, ToFloatArray());

    /// <summary>
    /// This tensor's values in <paramref name="type"/>: F32, F16 or BF16, rounding to nearest even (as torch does;
    /// NaN stays NaN). Returns itself when it already has that type.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="type"/> is not F32, F16 or BF16.</exception>
    public TensorData ConvertTo(TensorDataType type)
    {
        if (type == Type)
            return this;
        if (type == TensorDataType.F32)
            return ToFloat32();
        if (type is not (TensorDataType.F16 or TensorDataType.BF16))
            throw new ArgumentException($"Tensor '{Name}' converts to F32, F16 or BF16, not {type}.", nameof(type));
        float[] values = ToFloatArray();
        var bytes = new byte[values.Length * 2];
        for (int i = 0; i < values.Length; i++)
        {
            ushort bits = type == TensorDataType.F16 ? BitConverter.HalfToUInt16Bits((Half)values[i]) : RoundToBFloat16(values[i]);
            bytes[2 * i] = (byte)bits;
            bytes[2 * i + 1] = (byte)(bits >> 8);
        }
        return new TensorData(Name, type, Shape, bytes);
    }

    private static ushort RoundToBFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value))
            return (ushort)((bits >> 16) | 0x40);
        uint rounding = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + rounding) >> 16);
    }

    /// <inheritdoc />
    /// <summary>
    /// The index of the first NaN or infinite value, or −1 when every value is finite (or the type is not floating
    /// point). Read from the stored bits (an exponent of all ones), without converting the values.
    /// </summary>
    public long IndexOfNonFinite()
    {
        ReadOnlySpan<byte> bytes = Bytes;
        return Type switch
        {
            TensorDataType.F32 => FirstWithAllBits(MemoryMarshal.Cast<byte, uint>(bytes), 0x7F80_0000u),
            TensorDataType.F16 => FirstWithAllBits(MemoryMarshal.Cast<byte, ushort>(bytes), (ushort)0x7C00),
            TensorDataType.BF16 => FirstWithAllBits(MemoryMarshal.Cast<byte, ushort>(bytes), (ushort)0x7F80),
            TensorDataType.F64 => FirstWithAllBits(MemoryMarshal.Cast<byte, ulong>(bytes), 0x7FF0_0000_0000_0000ul),
            _ => -1,
        };
    }

    /// <summary>The first index whose value has every bit of <paramref name="exponent"/> set, or −1.</summary>
    private static long FirstWithAllBits<T>(ReadOnlySpan<T> values, T exponent) where T : unmanaged, IBinaryInteger<T>
    {
        int start = 0;
        if (System.Numerics.Vector.IsHardwareAccelerated)
        {
            var mask = new Vector<T>(exponent);
            ReadOnlySpan<Vector<T>> blocks = MemoryMarshal.Cast<T, Vector<T>>(values);
            while (start / Vector<T>.Count < blocks.Length && !System.Numerics.Vector.EqualsAny(blocks[start / Vector<T>.Count] & mask, mask))
                start += Vector<T>.Count;
        }
        for (int i = start; i < values.Length; i++)
        {
            if ((values[i] & exponent) == exponent)
                return i;
        }
        return -1;
    }

    /// <inheritdoc />
    public override string ToString() => $"{Name} {Type} [{string.Join(", ", Shape)}]";
}
