"""Examples of other services using chronohook."""
