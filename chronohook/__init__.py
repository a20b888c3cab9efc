"""chronohook: shared pieces every service uses (settings, clock, ids, Kafka wiring, read-model store)."""
