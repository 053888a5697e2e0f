"""Storage: SQLAlchemy models, the Database object (SQLite or PostgreSQL), migrations, search index.

Front ends use :class:`Database` and the two error types below, never SQLAlchemy or the models.
"""

from sqlalchemy.exc import DataError as StoreDataError
from sqlalchemy.exc import SQLAlchemyError as StoreError

from tipline.store.db import Database

__all__ = ["Database", "StoreDataError", "StoreError"]
