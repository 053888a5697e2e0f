"""Alembic environment: the engine comes from ``Database.migrate`` (or a URL for the alembic CLI).

On SQLite, foreign keys are off while migrations run (the pragma is set before the transaction begins, where
it has effect): batch mode rebuilds a table by copying it and dropping the old one, and with foreign keys
on, that drop would delete (cascade) or refuse the rows that refer to it. The references are checked
before the migration commits (``PRAGMA foreign_key_check``), and the pragma is set back as it was afterwards.
"""

from alembic import context
from sqlalchemy import create_engine, text

from tipline.store.models import Base

config = context.config
target_metadata = Base.metadata


def run() -> None:
    engine = config.attributes.get("engine")
    if engine is None:
        url = config.get_main_option("sqlalchemy.url")
        if url is None:
            raise RuntimeError("no database: set sqlalchemy.url or pass an engine")
        engine = create_engine(url)
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        raw = connection.connection.driver_connection
        if sqlite:
            fk_on = raw.execute("PRAGMA foreign_keys").fetchone()[0]  # type: ignore[union-attr]
            raw.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        try:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=sqlite,
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
                if sqlite:
                    broken = connection.execute(text("PRAGMA foreign_key_check")).all()
                    if broken:
                        raise RuntimeError(f"migration left rows that refer to missing rows: {broken[:5]}")
            connection.commit()
        finally:
            if sqlite and fk_on:
                raw.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]


run()
