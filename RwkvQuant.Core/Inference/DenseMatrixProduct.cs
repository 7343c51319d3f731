using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using RwkvQuant.Formats;

namespace RwkvQuant.Inference;

/// <summary>
/// y = W·x for a full-precision matrix <c>[rows, columns]</c> kept as F32, F16 or BF16 bytes. F16 and BF16 rows are
/// converted to float32 a chunk at a time into a small stack buffer, so no float32 copy of the matrix is ever kept.
/// </summary>
internal sealed class DenseMatrixProduct : IRowRangeProduct
{
    /// <summary>Floats converted at a time from an F16/BF16 row.</summary>
    private const int Chunk = 1024;

    private readonly TensorData _matrix;

    /// <summary>Wraps <paramref name="matrix"/> (a 2-D F32, F16 or BF16 tensor, <c>[out, in]</c>); its bytes are not copied.</summary>
    /// <exception cref="ArgumentException">The tensor is not 2-D or not one of those types.</exception>
    public DenseMatrixProduct(TensorData matrix)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        if (matrix.Shape.Count != 2 || matrix.Shape[0] < 1 || matrix.Shape[1] < 1)
            throw new ArgumentException($"Tensor '{matrix.Name}' has shape [{string.Join(", ", matrix.Shape)}]; a matrix product needs a non-empty [out, in] matrix.", nameof(matrix));
        if (matrix.Type is not (TensorDataType.F32 or TensorDataType.F16 or TensorDataType.BF16))
            throw new ArgumentException($"Tensor '{matrix.Name}' is {matrix.Type}; a kept matrix is F32, F16 or BF16.", nameof(matrix));
        _matrix = matrix;
        Rows = checked((int)matrix.Shape[0]);
        Columns = checked((int)matrix.Shape[1]);
    }

    /// <inheritdoc />
    public string Name => _matrix.Name;

    /// <inheritdoc />
    public int Rows { get; }

    /// <inheritdoc />
    public int Columns { get; }

    /// <summary>The stored element type.</summary>
    public TensorDataType Type => _matrix.Type;

    /// <inheritdoc />
    public long WeightBytes => _matrix.Bytes.Length;

    /// <inheritdoc />
    public void Multiply(ReadOnlySpan<float> x, Span<float> y) => RowParallel.Multiply(this, x, y);

    /// <summary>
    /// The batch: each row is read (an F16/BF16 row converted to float32) once and multiplied with every vector while
    /// it is in cache, so a prompt's tokens read the matrix once.
    /// </summary>
    public unsafe void Multiply(ReadOnlySpan<float> x, Span<float> y, int vectors)
    {
        MatrixShapes.Check(this, x.Length, y.Length, vectors);
        if (vectors == 1)
        {
            Multiply(x, y);
            return;
        }
        fixed (float* px = x, py = y)
        {
            var args = (Product: this, X: (nint)px, Y: (nint)py, Vectors: vectors);
            RowParallel.For(Rows, Columns * vectors, args, static (a, start, end) =>
                a.Product.MultiplyRows(new ReadOnlySpan<float>((float*)a.X, a.Product.Columns * a.Vectors),
                    new Span<float>((float*)a.Y, a.Product.Rows * a.Vectors), a.Vectors, start, end));
        }
    }

    /// <summary>Rows [start, end) of the batch y <c>[vectors, Rows]</c> = x <c>[vectors, Columns]</c>·Wᵀ.</summary>
    private void MultiplyRows(ReadOnlySpan<float> x, Span<float> y, int vectors, int start, int end)
    {
        int columns = Columns, rows = Rows;
        float[]? rented = _matrix.Type == TensorDataType.F32 ? null : ArrayPool<float>.Shared.Rent(columns);
        try
        {
            for (int r = start; r < end; r++)
            {
                ReadOnlySpan<float> row;
                if (rented is null)
                {
                    row = MemoryMarshal.Cast<byte, float>(_matrix.Bytes).Slice(r * columns, columns);
                }
                else
                {
                    DecodeRow(r, rented);
                    row = rented.AsSpan(0, columns);
                }
                for (int n = 0; n < vectors; n++)
                    y[n * rows + r] = TensorPrimitives.Dot(row, x.Slice(n * columns, columns));
            }
        }
        finally
        {
            if (rented is not null)
                ArrayPool<float>.Shared.Return(rented);
        }
    }

    /// <inheritdoc />
    public void MultiplyRows(ReadOnlySpan<float> x, Span<float> y, int start, int end)
    {
        ReadOnlySpan<byte> bytes = _matrix.Bytes;
        int columns = Columns;
        switch (_matrix.Type)
        {
            case TensorDataType.F32:
                ReadOnlySpan<float> floats = MemoryMarshal.Cast<byte, float>(bytes);
                for (int r = start; r < end; r++)
                    y[r] = TensorPrimitives.Dot(floats.Slice(r * columns, columns), x);
                break;
            default:
                ReadOnlySpan<ushort> halves = MemoryMarshal.Cast<byte, ushort>(bytes);
                if (Vector256.IsHardwareAccelerated)
                {
                    bool brain = _matrix.Type == TensorDataType.BF16;
                    for (int r = start; r < end; r++)
                        y[r] = HalfDot(halves.Slice(r * columns, columns), x, brain);
                    break;
                }
                Span<float> buffer = stackalloc float[Chunk];
                for (int r = start; r < end; r++)
                {
                    ReadOnlySpan<ushort> row = halves.Slice(r * columns, columns);
                    float sum = 0;
                    for (int c = 0; c < columns; c += Chunk)
                    {
                        int length = Math.Min(Chunk, columns - c);
                        Span<float> part = buffer[..length];
                        Convert(row.Slice(c, length), part);
                        sum += TensorPrimitives.Dot(part, x.Slice(c, length));
                    }
                    y[r] = sum;
                }
                break;
        }
    }

    /// <summary>
    /// Σ w_i·x_i over 16-bit floats w (IEEE half, or bfloat16 when <paramref name="brain"/>), widened in registers. A
    /// half's bits, sign-extended to 32 and shifted left by 13, hold its exponent and mantissa where a float32's are and
    /// its sign in the sign bit (copies of the sign above the exponent are masked off); scaled by 2^112 that is the half's
    /// exact value, subnormals included (weights are finite). Four operations per 16 weights before the multiply-add,
    /// which keeps the conversion from bounding the product below memory speed. A bfloat16 is the upper half of a float32.
    /// </summary>
    internal static float HalfDot(ReadOnlySpan<ushort> w, ReadOnlySpan<float> x, bool brain) =>
        Vector512.IsHardwareAccelerated ? HalfDot512(w, x, brain) : HalfDot256(w, x, brain);

    /// <summary>A half's bits sign-extended and shifted by 13: its sign bit and its exponent and mantissa in place.</summary>
    private const int HalfBitsMask = unchecked((int)0x8FFFE000);

    /// <summary>2^112: the difference of the float32 and half exponent biases (127 − 15).</summary>
    private const float HalfExponentScale = 5.192297e33f;

    /// <summary>
    /// Halves ahead of the one being read that the loops ask to have in cache, one cache line per 32 halves. Without it a
    /// row-by-row FP16 product (the kept head) read memory at half the rate of a float32 one: the 65536 × 768 head took
    /// 15.4 ms on one thread, 7.9 ms with it (AVX-512, DecodingBenchmarks' machine). A prefetch never faults (past the
    /// end, or at an address the garbage collector has since moved: it only fetches a line that is not used).
    /// </summary>
    private const int PrefetchHalves = 1024;

    /// <summary><see cref="HalfDot"/> 32 values at a time in 512-bit registers (half the instructions per weight).</summary>
    internal static unsafe float HalfDot512(ReadOnlySpan<ushort> w, ReadOnlySpan<float> x, bool brain)
    {
        int n = w.Length, i = 0;
        Vector512<float> acc0 = Vector512<float>.Zero, acc1 = Vector512<float>.Zero;
        ref short pw = ref Unsafe.As<ushort, short>(ref MemoryMarshal.GetReference(w));
        ref float px = ref MemoryMarshal.GetReference(x);
        for (; i + 32 <= n; i += 32)
        {
            if (Sse.IsSupported)
                Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref pw, i + PrefetchHalves)));
            (Vector512<int> low, Vector512<int> high) = Vector512.Widen(Vector512.LoadUnsafe(ref pw, (nuint)i));
            acc0 = Vector512.FusedMultiplyAdd(ToSingle(low, brain), Vector512.LoadUnsafe(ref px, (nuint)i), acc0);
            acc1 = Vector512.FusedMultiplyAdd(ToSingle(high, brain), Vector512.LoadUnsafe(ref px, (nuint)(i + 16)), acc1);
        }
        float sum = Vector512.Sum(acc0 + acc1);
        return i == n ? sum : sum + HalfDot256(w[i..], x[i..], brain);
    }

    /// <summary><see cref="HalfDot"/> 16 values at a time in 256-bit registers, the tail one by one.</summary>
    internal static unsafe float HalfDot256(ReadOnlySpan<ushort> w, ReadOnlySpan<float> x, bool brain)
    {
        int n = w.Length, i = 0;
        Vector256<float> acc0 = Vector256<float>.Zero, acc1 = Vector256<float>.Zero;
        ref short pw = ref Unsafe.As<ushort, short>(ref MemoryMarshal.GetReference(w));
        ref float px = ref MemoryMarshal.GetReference(x);
        for (; i + 16 <= n; i += 16)
        {
            if (Sse.IsSupported && (i & 31) == 0)
                Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref pw, i + PrefetchHalves)));
            (Vector256<int> low, Vector256<int> high) = Vector256.Widen(Vector256.LoadUnsafe(ref pw, (nuint)i));
            acc0 = Vector256.FusedMultiplyAdd(ToSingle(low, brain), Vector256.LoadUnsafe(ref px, (nuint)i), acc0);
            acc1 = Vector256.FusedMultiplyAdd(ToSingle(high, brain), Vector256.LoadUnsafe(ref px, (nuint)(i + 8)), acc1);
        }
        float sum = Vector256.Sum(acc0 + acc1);
        for (; i < n; i++)
            sum += (brain ? BitConverter.UInt32BitsToSingle((uint)w[i] << 16) : (float)BitConverter.UInt16BitsToHalf(w[i])) * x[i];
        return sum;
    }

    private static Vector256<float> ToSingle(Vector256<int> bits, bool brain) =>
        brain ? (bits << 16).AsSingle() : ((bits << 13) & Vector256.Create(HalfBitsMask)).AsSingle() * Vector256.Create(HalfExponentScale);

    private static Vector512<float> ToSingle(Vector512<int> bits, bool brain) =>
        brain ? (bits << 16).AsSingle() : ((bits << 13) & Vector512.Create(HalfBitsMask)).AsSingle() * Vector512.Create(HalfExponentScale);

    /// <inheritdoc />
    public void DecodeRow(int row, Span<float> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(row);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(row, Rows);
        MatrixShapes.CheckRow(this, destination.Length);
        ReadOnlySpan<byte> bytes = _matrix.Bytes;
        if (_matrix.Type == TensorDataType.F32)
            MemoryMarshal.Cast<byte, float>(bytes).Slice(row * Columns, Columns).CopyTo(destination);
        else
            Convert(MemoryMarshal.Cast<byte, ushort>(bytes).Slice(row * Columns, Columns), destination[..Columns]);
    }

    private void Convert(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        if (_matrix.Type == TensorDataType.F16)
        {
            TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<ushort, Half>(source), destination);
            return;
        }
        Span<uint> bits = MemoryMarshal.Cast<float, uint>(destination);
        for (int i = 0; i < source.Length; i++)
            bits[i] = (uint)source[i] << 16; // bfloat16 is the upper half of a float32
    }
}
