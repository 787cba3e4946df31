"""The peer: KServe's Python model server with a custom model, as KServe's docs show it (a
`kserve.Model` subclass that loads in `load()` and answers both protocols in `predict()`):
v1 `POST /v1/models/lstm:predict` with {"instances": ...} and v2 (Open Inference Protocol)
`POST /v2/models/lstm/infer`. Run in bench/.venv-kserve: python kserve_server.py CHECKPOINT
[kserve flags such as --http_port, --workers]."""

from __future__ import annotations

import argparse
from typing import Any

import kserve
import numpy as np
import torch
from classic import load
from kserve import InferOutput, InferRequest, InferResponse
from kserve.utils.utils import generate_uuid


class LSTMKServeModel(kserve.Model):
    def __init__(self, name: str, checkpoint: str) -> None:
        super().__init__(name)
        self.checkpoint = checkpoint
        self.model: torch.nn.Module | None = None
        self.load()

    def load(self) -> bool:
        self.model = load(self.checkpoint)
        self.ready = True
        return self.ready

    def predict(
        self, payload: dict[str, Any] | InferRequest, headers: dict[str, str] | None = None
    ) -> dict[str, Any] | InferResponse:
        assert self.model is not None
        if isinstance(payload, InferRequest):
            inputs = torch.from_numpy(payload.inputs[0].as_numpy().astype(np.float32))
        else:
            inputs = torch.tensor(payload["instances"], dtype=torch.float32)
        with torch.no_grad():
            out = self.model(inputs).numpy()
        if isinstance(payload, InferRequest):
            output = InferOutput(name="output-0", shape=list(out.shape), datatype="FP32", data=out)
            return InferResponse(
                model_name=self.name, infer_outputs=[output], response_id=generate_uuid()
            )
        return {"predictions": out.tolist()}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(parents=[kserve.model_server.parser])
    parser.add_argument("checkpoint")
    args, _ = parser.parse_known_args()
    model = LSTMKServeModel("lstm", args.checkpoint)
    kserve.ModelServer().start([model])
