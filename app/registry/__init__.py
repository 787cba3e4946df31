"""Model versions: `store.py` keeps them on disk (checkpoint files and database rows, the active
pointer), `models.py` in memory (the active predictor, a cache of other versions, the hot swap),
and `watch.py` follows an activation made by another process.

May import: app.core, model."""
