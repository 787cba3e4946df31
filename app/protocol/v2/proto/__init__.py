"""The Open Inference Protocol's gRPC service, `inference.GRPCInferenceService`: the vendored
grpc_predict_v2.proto (KServe's, with Triton's ModelStreamInfer; see its LICENSE-* files) and the
stubs scripts/grpc_stubs.py generates from it (committed, never edited by hand)."""
