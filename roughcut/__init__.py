"""roughcut: a real-time-first backend for video-production collaboration."""

__version__ = "0.1.0"
