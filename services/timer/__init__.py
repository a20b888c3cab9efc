"""The timer: holds pending jobs in time buckets and emits ``JobDue`` when they are due."""
