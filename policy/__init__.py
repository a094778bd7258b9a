"""The policy engine: pure, synchronous; typed context in, Decision with its reasons out."""
