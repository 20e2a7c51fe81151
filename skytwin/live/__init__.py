"""Live mode: INDI-backed sites behind the same Site interface (not built yet)."""
