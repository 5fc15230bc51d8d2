"""Alembic migrations of the annotation store (run by :func:`flexaqa.annotation.store.migrate`)."""
