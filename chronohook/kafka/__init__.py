"""Kafka wiring shared by the services: topic names, client settings, one partitioner everywhere."""
