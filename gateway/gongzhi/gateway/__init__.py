"""The MQTT gateway: ingestion, validation, dead letters, dedup, storage, detection and the
alarm outbox."""
