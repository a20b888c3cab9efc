"""The projector: folds the job events into the SQL read models behind every GET, and sends callbacks."""
