"""The projector: folds the job events into the SQL read models behind every GET. It sends nothing."""
