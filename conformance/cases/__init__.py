"""The case table and how it is cut: cases and their factors, covering designs, depths, seeds and shards."""
