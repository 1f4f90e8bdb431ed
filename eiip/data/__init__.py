"""Data: the embedded sample photos (and, later, shard writing and the datamodule)."""
