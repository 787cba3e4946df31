"""Wire formats, decode and encode: the request and response schemas of /v1 (`v1/schemas.py`),
JSON and binary (.npy, .npz) predict bodies, the predict answer, and the Open Inference
Protocol's schemas and tensors (`v2/`). Every decoder returns the same `PredictInput`
(`request.py`) and raises the service's own errors, never the framework's.

May import: app.core, model."""
