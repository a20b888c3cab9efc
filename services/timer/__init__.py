"""The timer: holds pending jobs and callbacks in time buckets and emits ``JobDue`` and ``CallbackDue`` when due."""
