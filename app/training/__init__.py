"""Training jobs: a request becomes a validated `plan`, is queued in the job `store`, started by
the `runner` in a `worker` process of its own, and its version activated by `activation`;
`views` show jobs to the API and `loss_chart` draws their loss curves, `datasets` keeps
uploaded training data.

May import: app.protocol (the training schemas), app.registry, app.core, model."""
