"""Alembic environment: run in-process by aggregator.db.migrate (no alembic.ini)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from aggregator.models import metadata

config = context.config
target_metadata = metadata


def include_name(name, type_, parent_names):  # type: ignore[no-untyped-def]
    # APScheduler keeps its own job table in the same database: never ours to migrate.
    if type_ == "table":
        return name in target_metadata.tables
    return True


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        url = config.get_main_option("sqlalchemy.url")
        engine = create_engine(url)
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
        return
    _run(connection)


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        include_name=include_name,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported")
run_migrations_online()
