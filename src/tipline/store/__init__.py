"""Storage: SQLAlchemy models, the Database object (SQLite or PostgreSQL), migrations, search index."""

from tipline.store.db import Database

__all__ = ["Database"]
