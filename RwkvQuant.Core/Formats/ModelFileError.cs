namespace RwkvQuant.Formats;

/// <summary>
/// Builds the exception for a malformed, truncated, hostile or unsupported model file: an
/// <see cref="InvalidDataException"/> (sealed in .NET, so it is not subclassed) whose message names the file and,
/// where one is involved, the tensor; both are also in <see cref="Exception.Data"/> under
/// <see cref="FilePathKey"/> and <see cref="TensorNameKey"/>.
/// </summary>
public static class ModelFileError
{
    /// <summary>Key of the file path in <see cref="Exception.Data"/>.</summary>
    public const string FilePathKey = "RwkvQuant.FilePath";

    /// <summary>Key of the tensor name in <see cref="Exception.Data"/> (absent when no tensor is involved).</summary>
    public const string TensorNameKey = "RwkvQuant.TensorName";

    /// <summary>Creates the exception: message <c>"{file}: tensor '{tensor}': {message}"</c>.</summary>
    public static InvalidDataException Create(string filePath, string? tensorName, string message, Exception? innerException = null)
    {
        string text = tensorName is null ? $"{filePath}: {message}" : $"{filePath}: tensor '{tensorName}': {message}";
        var exception = new InvalidDataException(text, innerException);
        exception.Data[FilePathKey] = filePath;
        if (tensorName is not null)
            exception.Data[TensorNameKey] = tensorName;
        return exception;
    }
}
