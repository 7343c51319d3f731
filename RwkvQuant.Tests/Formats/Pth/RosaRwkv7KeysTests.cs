using RwkvQuant.Formats;
using RwkvQuant.Formats.Pth;

namespace RwkvQuant.Tests.Formats.Pth;

public class RosaRwkv7KeysTests
{
    /// <summary>BlinkDL's RWKV-7 (x070) time-mix parameters.</summary>
    private static readonly string[] AttentionNames =
    [
        "x_r", "x_w", "x_k", "x_v", "x_a", "x_g", "w0", "w1", "w2", "a0", "a1", "a2", "v0", "v1", "v2", "g1", "g2",
        "k_k", "k_a", "r_k", "receptance.weight", "key.weight", "value.weight", "output.weight", "ln_x.weight", "ln_x.bias",
    ];

    [FixtureTheory]
    [InlineData("251024_rosaQKV_L2_digit20.pth", 128, 13)]
    [InlineData("251105_reverse_L2.pth", 32, 12)]
    [InlineData("260123_reverse_L2.pth", 32, 12)]
    [InlineData("260123_reverse_L2_only_rwkv7.pth", 32, 12)]
    public void Maps_the_rwkv7_rosa_checkpoints_to_canonical_names(string file, long width, long vocabulary)
    {
        IReadOnlyList<TensorData> tensors = PthReader.Read(Fixtures.Path("pth", file));
        Assert.True(RosaRwkv7Keys.Matches(tensors));
        IReadOnlyList<TensorData> mapped = RosaRwkv7Keys.ToBlinkDL(tensors);

        Assert.Equal(tensors.Count, mapped.Count);
        Assert.Equal(mapped.Count, mapped.Select(t => t.Name).Distinct().Count());
        TensorData Get(string name) => mapped.Single(t => t.Name == name);
        Assert.Equal([vocabulary, width], Get("emb.weight").Shape);
        Assert.Equal([vocabulary, width], Get("head.weight").Shape);
        Assert.Equal([vocabulary], Get("head.bias").Shape);
        Assert.Equal([width], Get("ln_out.weight").Shape);
        for (int block = 0; block < 2; block++)
        {
            foreach (string name in AttentionNames)
                Assert.Contains(mapped, t => t.Name == $"blocks.{block}.att.{name}");
            Assert.Equal([1L, 1, width], Get($"blocks.{block}.att.x_r").Shape);
            Assert.Equal([width / 16, 16L], Get($"blocks.{block}.att.r_k").Shape);
            Assert.Equal([4 * width, width], Get($"blocks.{block}.ffn.key.weight").Shape);
            Assert.Equal([width, 4 * width], Get($"blocks.{block}.ffn.value.weight").Shape);
            Assert.Equal([1L, 1, width], Get($"blocks.{block}.ffn.x_k").Shape);
            Assert.Equal([width], Get($"blocks.{block}.ln1.weight").Shape);
            Assert.Equal([width], Get($"blocks.{block}.ln2.bias").Shape);
            Assert.Equal([width], Get($"blocks.{block}.ln_rosa.weight").Shape);
            Assert.Equal([width, width], Get($"blocks.{block}.rosa.q.weight").Shape);
        }
        Assert.DoesNotContain(mapped, t => t.Name.Contains("ln0", StringComparison.Ordinal));
        Assert.DoesNotContain(mapped, t => t.Name.StartsWith("blocks.2.", StringComparison.Ordinal));
        // Renaming shares bytes: the values are those of the original key.
        Assert.Equal(tensors.Single(t => t.Name == "rwkv2.w1").ToFloatArray(), Get("blocks.1.att.w1").ToFloatArray());
    }

    [FixtureTheory]
    [InlineData("251016_rosa_1bit_run.pth")]
    [InlineData("251018_rosa_4bit_run.pth")]
    public void Pure_rosa_checkpoints_are_not_rwkv7(string file)
    {
        IReadOnlyList<TensorData> tensors = PthReader.Read(Fixtures.Path("pth", file));
        Assert.False(RosaRwkv7Keys.Matches(tensors));
        Assert.Throws<ArgumentException>(() => RosaRwkv7Keys.ToBlinkDL(tensors));
    }

    [Theory]
    [InlineData("e.weight", "emb.weight")]
    [InlineData("ln1a.weight", "blocks.0.ln1.weight")]
    [InlineData("ln12b.bias", "blocks.11.ln2.bias")]
    [InlineData("ln3c.weight", "blocks.2.ln_rosa.weight")]
    [InlineData("rwkv10.receptance.weight", "blocks.9.att.receptance.weight")]
    [InlineData("ffn2.x_k", "blocks.1.ffn.x_k")]
    [InlineData("rosa1.rosa_qkv.emb", "blocks.0.rosa.rosa_qkv.emb")]
    [InlineData("o.bias", "head.bias")]
    public void Renames_single_keys(string key, string expected) => Assert.Equal(expected, RosaRwkv7Keys.Rename(key));

    [Theory]
    [InlineData("rwkv0.x_r")]
    [InlineData("ln1d.weight")]
    [InlineData("lin.weight")]
    [InlineData("blocks.0.att.x_r")]
    public void Unknown_keys_are_argument_errors(string key) => Assert.Throws<ArgumentException>(() => RosaRwkv7Keys.Rename(key));
}
