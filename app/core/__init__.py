"""Framework-free basics that every layer may use: the settings, the service's own errors, the
management token, the SQLite database of a data directory and the clock.

May import: model."""
