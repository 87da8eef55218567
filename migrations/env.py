from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from app.registry import import_all_models
from core.db import get_engine, normalize_url
from core.references import include_object

import_all_models()
target_metadata = SQLModel.metadata


def run_migrations() -> None:
    url = context.config.attributes.get("url") or context.config.get_main_option("sqlalchemy.url")
    connection = context.config.attributes.get("connection")
    if connection is None:
        engine = get_engine(normalize_url(url) if url else None)
        with engine.connect() as connection:
            _run(connection)
            connection.commit()
    else:
        _run(connection)


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object(connection.dialect.name),
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
