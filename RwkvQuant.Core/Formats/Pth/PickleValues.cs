namespace RwkvQuant.Formats.Pth;

/// <summary>A class named by a pickle GLOBAL / STACK_GLOBAL (only allow-listed names are ever created).</summary>
internal sealed record PickleGlobal(string Module, string Name)
{
    public override string ToString() => $"{Module}.{Name}";
}

/// <summary>A storage named by a persistent id: <c>('storage', torch.XStorage, key, location, numel)</c>.</summary>
internal sealed record PickleStorage(TensorDataType Type, string Key, long ElementCount);

/// <summary>A tensor rebuilt by <c>torch._utils._rebuild_tensor_v2(storage, offset, size, stride, …)</c>.</summary>
internal sealed record PickleTensor(PickleStorage Storage, long Offset, long[] Shape, long[] Stride);

/// <summary>A dict or OrderedDict, keeping insertion order.</summary>
internal sealed class PickleDict
{
    private readonly Dictionary<object, int> _index = [];

    public List<KeyValuePair<object, object?>> Items { get; } = [];

    public void Set(object key, object? value)
    {
        if (_index.TryGetValue(key, out int i))
            Items[i] = new(key, value);
        else
        {
            _index[key] = Items.Count;
            Items.Add(new(key, value));
        }
    }
}
