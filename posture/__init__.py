"""Posture: pure evaluation of endpoint reports. Arrives with the posture issue."""
