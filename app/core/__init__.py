"""Framework-free basics that every layer may use: the settings, the service's own errors, the
management token and inference keys, the database (`database/`: SQLite in the data directory or
PostgreSQL, with their migrations), this process's replica name and the clock.

May import: model."""
