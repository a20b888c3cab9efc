"""The ingest API: QuedUp's ``/jobs`` and Recuro's ``/api/jobs`` and ``/api/crons``, appending events to Kafka."""
