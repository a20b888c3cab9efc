"""The read side: the read-model store and its views (written by the projector, read by ingest)."""
