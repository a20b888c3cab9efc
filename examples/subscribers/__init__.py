"""Subscribers that follow the job events (docs/subscribers.md)."""
