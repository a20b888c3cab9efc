"""The executor: acts on ``JobDue``, ``CallbackDue`` and ``AlertDue`` (and watches deletes and pauses for the jobs it
was handed early), sends the request, emits what came of it."""
