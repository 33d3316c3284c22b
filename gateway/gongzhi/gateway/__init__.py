"""The MQTT gateway: ingestion, validation, dead letters, dedup, storage, detection, alarm outbox."""
