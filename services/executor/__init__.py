"""The executor: consumes ``JobDue`` and ``CallbackDue``, sends the request, emits what came of it."""
