"""The web console and REST API. Arrives with the console issue."""
