namespace RwkvQuant.ModelFiles;

/// <summary>The container formats a model file can have.</summary>
public enum ModelFileFormat
{
    /// <summary>rwkv.cpp's ggml file (<c>.bin</c>).</summary>
    Ggml,
    /// <summary>Hugging Face safetensors.</summary>
    Safetensors,
    /// <summary>PyTorch zip checkpoint (<c>.pth</c>).</summary>
    Pth,
}
