"""Anomaly agents."""
