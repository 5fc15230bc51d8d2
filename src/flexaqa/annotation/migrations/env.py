"""Alembic environment (loaded by Alembic from this folder, not a Python package): flexaqa passes the open
connection in ``config.attributes["connection"]``."""

from alembic import context

from flexaqa.annotation._schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
