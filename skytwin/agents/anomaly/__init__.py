"""Anomaly agents: a frame autoencoder whose reconstruction error flags unusual frames.

    from skytwin.agents.anomaly import load_default
    flags = load_default().is_anomalous(frames)
"""

from __future__ import annotations

from skytwin.agents.anomaly.model import AnomalyModel, FrameAutoencoder, load_default

__all__ = ["AnomalyModel", "FrameAutoencoder", "load_default"]
