"""The read models' schema migrations (Alembic), applied by chronohook.store.engine.create_schema (decision 0039)."""
