"""Alembic migrations, shared by PostgreSQL and SQLite."""
