using RwkvQuant.GpuCheck;
using RwkvQuant.Kernels.Accelerators;

// rwkvquant-gpucheck [--device cuda|cpu|auto] [--small]: the ILGPU kernels against their CPU references, timed.
// Exit code 0 when every check matched its reference, 1 when one did not, 2 for bad arguments or no device.
var kind = KernelDeviceKind.Auto;
bool small = false;
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--device" when i + 1 < args.Length && Enum.TryParse(args[i + 1], ignoreCase: true, out KernelDeviceKind parsed):
            kind = parsed;
            i++;
            break;
        case "--small":
            small = true;
            break;
        default:
            Console.Error.WriteLine($"rwkvquant-gpucheck: unknown argument '{args[i]}'. Usage: rwkvquant-gpucheck [--device cuda|cpu|auto] [--small]");
            return 2;
    }
}
KernelDevice device;
try
{
    device = KernelDevice.Create(kind);
}
catch (InvalidOperationException e)
{
    Console.Error.WriteLine($"rwkvquant-gpucheck: {e.Message}");
    return 2;
}
using (device)
{
    // The CPU accelerator is a correctness tool: real sizes would take hours on it.
    GpuCheckOptions options = small || device.Kind == KernelDeviceKind.Cpu ? GpuCheckOptions.Small : GpuCheckOptions.Full;
    string memory = device.Kind == KernelDeviceKind.Cuda ? FormattableString.Invariant($", {device.Accelerator.MemorySize / 1073741824.0:F1} GiB") : "";
    Console.WriteLine($"device: {device.Name} ({device.Kind}){memory}; sizes: {options}");
    IReadOnlyList<GpuCheckResult> results = GpuCheck.Run(device, options, Console.WriteLine);
    int failed = results.Count(r => !r.Passed);
    Console.WriteLine(failed == 0 ? "all checks matched their references" : $"{failed} check(s) did not match their references");
    return failed == 0 ? 0 : 1;
}
