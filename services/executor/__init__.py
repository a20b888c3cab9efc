"""The executor: consumes ``JobDue``, sends the request, emits ``JobSucceeded`` or ``JobFailed``."""
