"""Alembic's environment for the read models' schema.

chronohook.store.engine.create_schema runs it on the connection it holds (``config.attributes["connection"]``), inside
the transaction that holds its migration lock. Given a URL instead (``sqlalchemy.url``, e.g. from a script calling
``alembic.command`` with ``chronohook.store.migrate.alembic_config(url=...)``), it opens its own engine.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from chronohook.store.tables import metadata


def _migrate(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run() -> None:
    if context.is_offline_mode():
        raise RuntimeError("chronohook's migrations run on a live database only (no --sql)")
    given = context.config.attributes.get("connection")
    if given is not None:
        _migrate(given)
        return
    from chronohook.store.engine import make_engine

    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection and no sqlalchemy.url to migrate")
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            _migrate(connection)
            connection.commit()
    finally:
        engine.dispose()


run()
