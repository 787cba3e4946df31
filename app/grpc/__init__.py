"""gRPC beside HTTP, in the same process and event loop: the Open Inference Protocol's
`inference.GRPCInferenceService` (`service.py`) on the same serving pipeline, sessions, limits,
metrics and logs as /v1 and /v2, the standard `grpc.health.v1` service, and the server that
`lstm-serve serve --grpc-port` starts and drains (`server.py`). Errors become gRPC status codes in
one table (`errors.py`).

May import: app.serving, app.protocol, app.registry, app.observability, app.core, model."""
