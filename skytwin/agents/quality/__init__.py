"""Quality agents."""
