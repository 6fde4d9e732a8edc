"""Deterministic generation of the image datasets (polar curves, later fonts) as Parquet shards."""

# Part of every spec fingerprint: bump it whenever the same spec would render different pixels or
# bytes, so resumed runs never mix shards from two generator versions.
GENERATOR_VERSION = "datagen 0.1.0"
