"""One module per schema revision, oldest first; each names the one before it (down_revision)."""
