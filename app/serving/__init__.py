"""The data plane: a decoded `PredictInput` is checked (limits, then shapes against the model,
in `checked_input.py`), run by the `pipeline` (model version, session state) through the dynamic
`batcher` onto a predictor, and returned as a `Prediction`. Also the streaming `sessions` (in this
process, a SQLite file or Redis) and `services`, the container of what the lifespan starts.

May import: app.training (the services container holds the job runner and data sets),
app.protocol, app.registry, app.core, model."""
