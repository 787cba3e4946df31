"""The service's own API (/v1): pydantic schemas, predict bodies in JSON, .npy and .npz, and the
predict answer written straight from the arrays."""
