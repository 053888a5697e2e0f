"""Import every capability's models so that ``Base.metadata`` knows all tables (used by tools that walk
the whole schema: key rotation, retention, backups). Add a capability's models module here."""

from tipline.store import models  # noqa: F401
