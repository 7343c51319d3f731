using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using RwkvQuant.Formats;
using RwkvQuant.Kernels.MatVec;

namespace RwkvQuant.Inference;

/// <summary>
/// y = W·x for a full-precision matrix <c>[rows, columns]</c> kept as F32, F16 or BF16 bytes: float32 rows by
/// <see cref="TensorPrimitives.Dot(ReadOnlySpan{float}, ReadOnlySpan{float})"/>, 16-bit rows by the kernels'
/// <see cref="HalfMatVec"/> (widened in registers, the machine's widest tier), so no float32 copy of the matrix is ever
/// kept; a batch of vectors converts each 16-bit row once into a rented buffer.
/// </summary>
internal sealed class DenseMatrixProduct : IRowRangeProduct
{
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
                HalfMatVec.Rows(MemoryMarshal.Cast<byte, ushort>(bytes), x, y, start, end, _matrix.Type == TensorDataType.BF16);
                break;
        }
    }

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
