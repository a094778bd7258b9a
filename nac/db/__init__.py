"""nac/db."""
