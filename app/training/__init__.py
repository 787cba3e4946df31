"""Training jobs: a request becomes a validated `plan`, is queued in the job `store`, started by
the `runner` in a `worker` process of its own, and its version activated by `activation`;
`views` show jobs to the API, `datasets` keeps uploaded training data.

May import: app.protocol (the training schemas), app.registry, app.core, model."""
