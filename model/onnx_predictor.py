"""The ONNX Runtime inference backend: the checkpoint's model built as an ONNX graph
(`model/onnx_graph.py`, no torch) and run by onnxruntime's CPU execution provider, or CUDA's
where the installed onnxruntime has it. For one sequence it is several times faster than torch
(docs/backends.md); torch is never imported."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import onnxruntime as ort

from model.checkpoint import Checkpoint
from model.errors import InvalidInput
from model.inference import Predictor, RawOutput, State
from model.onnx_graph import (
    FINAL_C,
    FINAL_H,
    INITIAL_C,
    INITIAL_H,
    INPUT,
    LENGTHS,
    PREDICTION,
    STEPS,
    build_graph,
)

CPU, CUDA = "CPUExecutionProvider", "CUDAExecutionProvider"


class OnnxPredictor(Predictor):
    backend = "onnx"
    # What sessions built from now on use (use_threads, use_device): a session's options are
    # fixed when it is made.
    threads: ClassVar[int] = 1
    providers: ClassVar[tuple[str, ...]] = (CPU,)

    def __init__(self, checkpoint: Checkpoint) -> None:
        super().__init__(checkpoint)
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads  # 1: runs in the calling thread, no pool
        options.inter_op_num_threads = 1
        # Idle pool threads sleep rather than spin: the event loop shares these cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        graph = build_graph(checkpoint, with_steps=True).SerializeToString()
        # One session serves every request; onnxruntime's run is safe from several threads and
        # computes only what the requested outputs need (no `steps` unless asked).
        self.session = ort.InferenceSession(graph, options, providers=list(self.providers))
        self._outputs = [PREDICTION, FINAL_H] + ([FINAL_C] if self.config.has_cell_state else [])

    @classmethod
    def use_threads(cls, threads: int) -> None:
        cls.threads = threads

    @classmethod
    def use_device(cls, device: str) -> None:
        if device not in ("cpu", "cuda", "auto"):
            raise InvalidInput(f"device is cpu, cuda or auto, not {device!r}")
        cuda = CUDA in ort.get_available_providers()
        if device == "cuda" and not cuda:
            raise InvalidInput(
                "device is cuda, and this onnxruntime has no CUDA execution provider "
                "(install onnxruntime-gpu on a machine with CUDA)"
            )
        cls.providers = (CUDA, CPU) if device != "cpu" and cuda else (CPU,)

    def forward(
        self,
        x: np.ndarray,
        lengths: np.ndarray,
        state: State | None,
        return_steps: bool,
    ) -> RawOutput:
        config = self.config
        batch = x.shape[0]
        if state is None:
            zeros = np.zeros((config.num_layers, batch, config.hidden_size), dtype=np.float32)
            state = (zeros, zeros if config.has_cell_state else None)
        h0, c0 = state
        feed = {
            INPUT: np.ascontiguousarray(x, dtype=np.float32),  # (B, T, F)
            LENGTHS: lengths.astype(np.int32),  # (B,)
            INITIAL_H: np.ascontiguousarray(h0, dtype=np.float32),  # (L, B, H)
        }
        if c0 is not None:
            feed[INITIAL_C] = np.ascontiguousarray(c0, dtype=np.float32)
        outputs = self._outputs + ([STEPS] if return_steps else [])
        values = self.session.run(outputs, feed)
        predictions, h = values[0], values[1]  # (B, O), (L, B, H)
        c = values[2] if config.has_cell_state else None
        steps = None
        if return_steps:
            # Past a sequence's length onnxruntime's Y is zero, so fc gives its bias there; zero
            # it, as the other backends return those steps.
            real = np.arange(x.shape[1])[None, :] < lengths[:, None]  # (B, T)
            steps = values[-1] * real[:, :, None]  # (B, T, O)
        return RawOutput(predictions, h, c, steps)
