"""Telemetry at rest, read side: the interface the platform's trends (and the gateway's backtest)
read recorded measurements through, and its two implementations, the embedded SQLite store the
gateway writes and InfluxDB. The embedded store's file layout lives here too, so the gateway's
writer and the readers share one definition of it."""
