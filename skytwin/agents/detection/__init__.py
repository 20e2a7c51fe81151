"""Detection agents."""
