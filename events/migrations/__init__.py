"""Alembic migrations of the event store (kept inside the package so installs can migrate)."""
