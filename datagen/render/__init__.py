"""Renderers: pure functions from a spec and row range to images and Arrow tables."""
