"""What operators see: logs (JSON or text, with request ids), Prometheus metrics, and the
garbage-collector freeze of what start-up loaded.

May import: app.serving (metrics read the services at scrape time), app.core, model."""
