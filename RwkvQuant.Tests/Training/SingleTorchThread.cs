using TorchSharp;

namespace RwkvQuant.Tests.Training;

/// <summary>
/// Runs torch on one thread until disposed, then restores the previous count. Tiny training models are thousands of
/// small torch operations per step, where intra-op threads only add synchronisation (10× slower measured on a busy
/// 2-core machine).
/// </summary>
internal sealed class SingleTorchThread : IDisposable
{
    private readonly int _previous = torch.get_num_threads();

    public SingleTorchThread() => torch.set_num_threads(1);

    public void Dispose() => torch.set_num_threads(_previous);
}
