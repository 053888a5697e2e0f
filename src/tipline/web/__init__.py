"""The web front end: a thin layer over the services (JSON API under /api/v1, server-rendered pages)."""
