"""The NumPy training engine: the same loop as `model.torch_trainer` (MSE, Adam, minibatches, a
validation split, early stopping on the best epoch, gradient-norm clipping, a seed, progress and
stop hooks, truncated BPTT) on the hand-written backward passes of `model.numpy_model` (LSTM,
GRU or RNN layers).

It shares the epoch loop, split, scaling and result types with the torch engine
(`model.train_loop`, torch-free), so a caller picks an engine by function: `train_torch` or
`train_numpy` (`model.backends` by name). Nothing here imports torch.

TBPTT for a sequence-to-one loss: the loss sits on the last step, so the last chunk ends at T and
is the only one that is differentiated; the steps before it run forward only and hand their
(h, c) on, and no gradient crosses that boundary (pytorch/examples `repackage_hidden`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from model.checkpoint import Checkpoint
from model.config import LSTMConfig
from model.data import Samples
from model.errors import InvalidInput, TrainingCancelled
from model.numpy_lstm import Params
from model.numpy_model import (
    forward,
    init_params,
    loss_and_grads,
    mse_loss,
    predict,
    step_loss_and_grads,
)
from model.train_loop import (
    EpochLoop,
    ProgressCallback,
    StopHook,
    TrainParams,
    TrainResult,
    prepare,
    step_chunks,
)
from model.train_state import Checkpointing

DTYPE = np.float32  # as the torch engine trains


def tbptt_loss_and_grads(
    x: np.ndarray,
    y: np.ndarray,
    params: Params,
    tbptt: int | None = None,
    dropout: float = 0.0,
    rng: np.random.Generator | None = None,
    nonlinearity: str = "tanh",
) -> tuple[float, Params]:
    """MSE of the last-step prediction and its gradients, which flow back through at most
    `tbptt` steps. x: (B, T, F), y: (B, O)."""
    steps = x.shape[1]
    h, c, cut = None, None, 0
    if tbptt is not None and tbptt < steps:
        cut = steps - tbptt  # the last chunk is x[:, cut:], ending at T
        # Running the earlier steps in one call or in chunks of `tbptt` gives the same state;
        # without a cache, nothing of them is kept for a backward pass that will not come.
        _, h, c, _ = forward(
            x[:, :cut], params, None, None, None, dropout, rng, False, nonlinearity
        )
    # The state enters as plain inputs; its gradients (dh0, dc0) are dropped: the truncation.
    loss, grads, _, _ = loss_and_grads(
        x[:, cut:], y, params, h, c, None, dropout, rng, nonlinearity
    )
    return loss, grads


def batch_losses(
    x: np.ndarray,
    y: np.ndarray,
    params: Params,
    tbptt: int | None = None,
    dropout: float = 0.0,
    rng: np.random.Generator | None = None,
    nonlinearity: str = "tanh",
) -> Iterator[tuple[float, Params, float]]:
    """The losses one batch trains on, with their gradients and their share of the batch, as
    the torch engine's `batch_losses`: one for a sequence-to-one target y (B, O); for per-step
    targets y (B, T, O), one per chunk of `tbptt` steps, the state going on from chunk to chunk
    with no gradient across (take the optimizer step before asking for the next)."""
    if y.ndim == 2:
        loss, grads = tbptt_loss_and_grads(x, y, params, tbptt, dropout, rng, nonlinearity)
        yield loss, grads, 1.0
        return
    steps = x.shape[1]
    h, c = None, None
    for chunk in step_chunks(steps, tbptt):
        loss, grads, h, c = step_loss_and_grads(
            x[:, chunk], y[:, chunk], params, h, c, dropout, rng, nonlinearity
        )
        yield loss, grads, (chunk.stop - chunk.start) / steps


def clip_grad_norm(grads: Params, max_norm: float) -> float:
    """Scale all gradients together so their global L2 norm is at most `max_norm`, in place,
    as torch.nn.utils.clip_grad_norm_ does. Returns the norm before clipping."""
    total = float(np.sqrt(sum(float(np.sum(g * g)) for g in grads.values())))
    scale = max_norm / (total + 1e-6)
    if scale < 1.0:
        for g in grads.values():
            g *= scale
    return total


@dataclass
class Adam:
    """torch.optim.Adam with its defaults (no weight decay, no amsgrad), updating in place."""

    learning_rate: float
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    steps: int = 0
    first: Params = field(default_factory=dict)  # running mean of the gradient
    second: Params = field(default_factory=dict)  # running mean of its square

    def step(self, params: Params, grads: Params) -> None:
        self.steps += 1
        # Bias corrections: the running means start at zero and would underestimate early on.
        correct1 = 1.0 - self.beta1**self.steps
        correct2 = 1.0 - self.beta2**self.steps
        for key, grad in grads.items():
            m = self.first.setdefault(key, np.zeros_like(grad))
            v = self.second.setdefault(key, np.zeros_like(grad))
            m *= self.beta1
            m += (1.0 - self.beta1) * grad
            v *= self.beta2
            v += (1.0 - self.beta2) * grad * grad
            denom = np.sqrt(v / correct2) + self.eps
            params[key] -= (self.learning_rate / correct1) * m / denom


def evaluate(params: Params, x: np.ndarray, y: np.ndarray, nonlinearity: str = "tanh") -> float:
    """MSE of the predictions on x (B, T, F) against y (B, O), or of every step's against
    y (B, T, O), without dropout."""
    pred, _, _, steps = predict(x, params, return_steps=y.ndim == 3, nonlinearity=nonlinearity)
    if steps is not None:
        return mse_loss(steps, y)[0]
    return mse_loss(pred, y)[0]


def train_numpy(
    config: LSTMConfig,
    data: Samples,
    params: TrainParams,
    on_progress: ProgressCallback | None = None,
    should_stop: StopHook | None = None,
    init_from: Checkpoint | None = None,
    checkpointing: Checkpointing | None = None,
    device: str = "cpu",
    data_workers: int = 0,
) -> TrainResult:
    """Train on `data` with NumPy alone; the same contract as `model.torch_trainer.train`,
    except resume points: the NumPy engine is the reference for the arithmetic, and a run that
    needs to survive its process trains with torch (InvalidInput when `checkpointing` asks).

    `params.num_threads` is not applied: NumPy's BLAS threads are set by its environment
    (OMP_NUM_THREADS / OPENBLAS_NUM_THREADS) before NumPy is imported. The NumPy engine trains
    in memory: a series on disk (`model.windows`) has all its windows read in first, so it
    has no `data_workers` to start.
    """
    if device != "cpu":
        raise InvalidInput("the NumPy engine runs on the CPU: device cpu, or use torch")
    if checkpointing is not None and (checkpointing.save or checkpointing.resume_from):
        raise InvalidInput("the NumPy engine does not save or resume training state: use torch")
    rng = np.random.default_rng(params.seed)
    data = data.in_memory()
    prepared = prepare(config, data, params, init_from)
    weights = (
        {key: value.astype(DTYPE) for key, value in init_from.tensors.items()}
        if init_from is not None
        else init_params(prepared.config, rng, DTYPE)
    )
    x, y = prepared.scaled(prepared.train_set)  # (N, T, F), (N, O)
    val = None if prepared.val_set is None else prepared.scaled(prepared.val_set)
    # nn.LSTM applies dropout between layers only, so never with a single layer.
    dropout = prepared.config.dropout if prepared.config.num_layers > 1 else 0.0
    optimizer = Adam(params.learning_rate)
    stop = should_stop or (lambda: False)
    nonlinearity = prepared.config.nonlinearity

    def run_epoch() -> float:
        """One pass over shuffled minibatches; the sample-weighted mean train loss."""
        order = rng.permutation(x.shape[0])
        total = 0.0
        for start in range(0, x.shape[0], params.batch_size):
            if stop():
                raise TrainingCancelled("training was stopped")
            rows = order[start : start + params.batch_size]
            for loss, grads, share in batch_losses(
                x[rows], y[rows], weights, params.tbptt, dropout, rng, nonlinearity
            ):
                if params.clip_grad_norm is not None:
                    clip_grad_norm(grads, params.clip_grad_norm)
                optimizer.step(weights, grads)
                total += loss * share * len(rows)
        return total / len(x)

    def evaluate_val() -> float | None:
        return None if val is None else evaluate(weights, *val, nonlinearity)

    loop = EpochLoop(params, lambda: {k: v.copy() for k, v in weights.items()}, on_progress)
    loop.run(run_epoch, evaluate_val)
    return loop.result(prepared, data, loop.best, engine="numpy")
