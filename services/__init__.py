"""chronohook's four services: ingest, timer, executor, projector."""
