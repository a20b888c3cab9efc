"""The SQL store behind every GET: read models written by the projector, tokens and name reservations."""
