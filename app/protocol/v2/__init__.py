"""The Open Inference Protocol (KServe v2 / Triton REST): its schemas, its tensors (JSON and
binary), and the LSTM's inputs and outputs as named tensors."""
