"""One router per resource: pages (HTML) and the REST API under /api/v1."""
