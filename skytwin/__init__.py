"""skytwin: a digital twin of a robotic telescope network and a gym for its agents."""

__version__ = "0.1.0"
