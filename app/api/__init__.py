"""HTTP, and the only package that imports FastAPI or Starlette: the routers (`routes/`), the
dependencies (the only reader of `app.state`), the error table (every exception -> status, code
and body), the body size limit and access-log middleware, and the OpenAPI extras.

May import: app.observability, app.serving, app.training, app.protocol, app.registry, app.core,
app.dashboard, model."""
