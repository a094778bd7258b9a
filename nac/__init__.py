"""nac: an open unified network access control server."""

__version__ = "0.1.0"
