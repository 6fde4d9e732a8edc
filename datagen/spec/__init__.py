"""Dataset specifications: parameters as frozen dataclasses plus the pure functions that plan rows."""

from datagen.spec.polar import PolarSpec, rows, sample_points, shard_ranges, transects

__all__ = ["PolarSpec", "rows", "sample_points", "shard_ranges", "transects"]
