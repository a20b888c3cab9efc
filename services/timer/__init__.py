"""The timer: holds pending jobs, callbacks and alerts in time buckets and emits ``JobDue``, ``CallbackDue`` and
``AlertDue`` when due."""
