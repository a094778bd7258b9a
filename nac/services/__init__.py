"""nac/services."""
