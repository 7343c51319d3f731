using RwkvQuant.Kernels.MatVec;

namespace RwkvQuant.Tests.Kernels.MatVec;

public class ProductThreadsTests
{
    [Fact]
    public void One_thread_runs_every_product_on_the_calling_thread_and_zero_is_refused()
    {
        int previous = ProductThreads.Count;
        try
        {
            ProductThreads.Count = 1;
            var calls = new List<(int First, int End, int Thread)>();
            RowPartition.For(4096, 4096, (first, end) => calls.Add((first, end, Environment.CurrentManagedThreadId)));
            Assert.Equal([(0, 4096, Environment.CurrentManagedThreadId)], calls);
            Assert.True(RowPartition.RunsSerially(4096, 4096));
            Assert.Throws<ArgumentOutOfRangeException>(() => ProductThreads.Count = 0);
        }
        finally
        {
            ProductThreads.Count = previous;
        }
    }

    [Fact]
    public void Large_products_split_into_chunks_that_cover_every_row_once()
    {
        var covered = new int[5000];
        RowPartition.For(5000, 4096, (first, end) =>
        {
            for (int r = first; r < end; r++)
                Interlocked.Increment(ref covered[r]);
        });
        Assert.All(covered, c => Assert.Equal(1, c));
    }
}
