"""Truncated BPTT, seen on a task that needs memory: the target is the input d steps back.

Each sample is T steps of unit-variance noise x_0 .. x_{T-1}; its target is x_{T-d}, the value
d steps before the step that would come next. To learn it, the gradient of the last-step loss
must reach step T-d, i.e. the truncation window k must be at least d. With k < d the model can
do no better than the mean predictor, whose MSE is the variance of the targets (1 in scaled
units); k = d is the bare minimum (the target is then the window's first step), and a few steps
of margin learn much more easily. Then the torch engine and the NumPy engine train on the same
task with the same seeds.

    python scripts/tbptt_experiment.py            # ~1 minute on 2 CPU cores
    python scripts/tbptt_experiment.py --dry-run  # seconds: tiny data, 2 epochs, for CI
"""

from __future__ import annotations

import argparse
import os

# One BLAS thread for NumPy and one torch thread: the engines compare on the same footing.
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import time  # noqa: E402

import numpy as np  # noqa: E402

from model.config import LSTMConfig  # noqa: E402
from model.data import SequenceData, from_arrays, split  # noqa: E402
from model.numpy_trainer import train_numpy  # noqa: E402
from model.scaling import Scaler  # noqa: E402
from model.torch_trainer import train_torch as train  # noqa: E402
from model.train_loop import TrainParams, TrainResult  # noqa: E402


def delayed_recall(n: int, steps: int, delay: int, seed: int) -> SequenceData:
    x = np.random.default_rng(seed).standard_normal((n, steps, 1)).astype(np.float32)
    return from_arrays(x, x[:, steps - delay, :])  # (n, T, 1) -> (n, 1)


def mean_predictor_val(data: SequenceData, seed: int) -> float:
    """The mean predictor's MSE on the validation split that `seed` draws, in the scaled units
    the engines report (the training split's mean and std): the bar to clear."""
    train_set, val_set = split(data, TrainParams().validation_split, seed)
    return float(np.mean(Scaler.fit(train_set.targets).transform(val_set.targets) ** 2))


def best_val(result: TrainResult) -> float:
    loss = result.history[result.best_epoch - 1].val_loss
    if loss is None:
        raise RuntimeError("no validation loss: the experiment needs a validation split")
    return loss


def train_params(args: argparse.Namespace, seed: int, tbptt: int | None) -> TrainParams:
    return TrainParams(
        epochs=args.epochs,
        learning_rate=0.01,
        batch_size=32,
        tbptt=tbptt,
        early_stopping_patience=10,
        seed=seed,
        num_threads=1,
    )


def row(label: str, values: list[float], suffix: str = "") -> str:
    return f"  {label:<16s}" + "  ".join(f"{v:.4f}" for v in values) + suffix


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--delay", type=int, default=8)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args()
    if args.dry_run:
        args.samples, args.epochs, args.seeds = 100, 2, [0]
    data = delayed_recall(args.samples, args.steps, args.delay, seed=123)
    config = LSTMConfig(input_size=1, hidden_size=16, num_layers=1, output_size=1)
    print(f"task: T={args.steps} noise steps, target = the input {args.delay} steps back")
    print(f"N={args.samples}, hidden 16, {args.epochs} epochs max, patience 10, Adam lr 0.01")
    print(f"\nbest validation MSE in scaled units, seeds {args.seeds}:")
    baselines = [mean_predictor_val(data, seed) for seed in args.seeds]
    print(row("mean predictor", baselines))
    for k in (args.steps, args.delay + 4, args.delay, 2):
        params = [train_params(args, seed, k) for seed in args.seeds]
        print(row(f"numpy, k={k}", [best_val(train_numpy(config, data, p)) for p in params]))
    print("\nthe two engines, full BPTT, same task and seeds:")
    for name, engine in (("torch", train), ("numpy", train_numpy)):
        started = time.monotonic()
        params = [train_params(args, seed, None) for seed in args.seeds]
        losses = [best_val(engine(config, data, p)) for p in params]
        print(row(name, losses, f"   ({time.monotonic() - started:.1f} s)"))


if __name__ == "__main__":
    main()
