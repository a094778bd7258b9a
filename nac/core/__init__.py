"""nac/core."""
