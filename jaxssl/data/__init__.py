"""Shard sets: ArrayRecord storage, manifests and the grain input pipeline."""
