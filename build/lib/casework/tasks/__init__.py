"""Idempotent steps the flows orchestrate: each writes the store once per key, or makes one call."""
