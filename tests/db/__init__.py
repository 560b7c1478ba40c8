"""Tests against a real database, below the web layer."""

from __future__ import annotations

from pathlib import Path

from medialoom.db import migrate
from medialoom.db.session import Database


def migrated_sqlite(path: Path) -> Database:
    """A SQLite database at ``path`` brought to the newest schema."""
    url = f"sqlite:///{path}"
    migrate.upgrade(url)
    return Database(url)
