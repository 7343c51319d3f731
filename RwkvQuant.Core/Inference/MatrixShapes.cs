using System.Diagnostics.CodeAnalysis;

namespace RwkvQuant.Inference;

/// <summary>Argument checks shared by the <see cref="IMatrixVectorProduct"/> implementations.</summary>
internal static class MatrixShapes
{
    /// <summary>Throws unless x holds Columns values and y Rows.</summary>
    public static void Check(IMatrixVectorProduct product, int x, int y)
    {
        if (x != product.Columns || y != product.Rows)
            Throw(product, x, y);
    }

    /// <summary>Throws unless x holds <paramref name="vectors"/> × Columns values and y <paramref name="vectors"/> × Rows.</summary>
    public static void Check(IMatrixVectorProduct product, int x, int y, int vectors)
    {
        if (vectors < 1 || (long)x != (long)vectors * product.Columns || (long)y != (long)vectors * product.Rows)
            throw new ArgumentException($"'{product.Name}' [{product.Rows}, {product.Columns}] multiplies {vectors} vectors x [{vectors}, {product.Columns}] into y [{vectors}, {product.Rows}]; got x [{x}] and y [{y}] values.", nameof(x));
    }

    /// <summary>Throws unless a row buffer holds at least Columns values.</summary>
    public static void CheckRow(IMatrixVectorProduct product, int length)
    {
        if (length < product.Columns)
            throw new ArgumentException($"A row of '{product.Name}' has {product.Columns} values; the buffer holds {length}.", nameof(length));
    }

    [DoesNotReturn]
    private static void Throw(IMatrixVectorProduct product, int x, int y) =>
        throw new ArgumentException($"'{product.Name}' [{product.Rows}, {product.Columns}] multiplies x [{product.Columns}] into y [{product.Rows}]; got x [{x}] and y [{y}].", nameof(x));
}
