"""`make bench-train`: training samples per second of each engine on this machine, for the
shipped sunspot model's recipe and for a larger synthetic task (hidden 128, 2 layers, 100 steps,
100k windows): torch on one thread and on two, the NumPy engine, DDP with two processes of one
thread each (torchrun, gloo), and torch reading the series from an .npy file, memory-mapped,
its windows cut by one DataLoader worker process or in the training process itself. Writes
bench/train-results.md.

Each figure times a fixed number of minibatches after a warm-up, stopped by the engines' own
stop hook (checked before every batch), so every rank of a DDP group stops at the same batch.
The validation pass at each epoch's end is part of the time. Median of RUNS runs."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.backends import trainer
from model.checkpoint import load_checkpoint
from model.config import LSTMConfig
from model.data import Samples, make_windows, read_csv_series
from model.distributed import join_group, launched_by_torchrun, leave_group
from model.errors import TrainingCancelled
from model.train_loop import TrainParams
from model.windows import SeriesWindows

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "model" / "pretrained" / "sunspots.safetensors"
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
DEVICE = os.environ.get("BENCH_DEVICE", "cpu")  # the torch rows' device: cpu, cuda or auto


@dataclass(frozen=True)
class Task:
    name: str
    label: str
    warmup: int  # batches before the clock starts
    batches: dict[str, int]  # timed batches, per engine (the NumPy engine's are slow)


TASKS = {
    "sunspots": Task("sunspots", "sunspot recipe (the shipped model: window 12, hidden 32, "
                     "1 layer, batch 16, 627 windows)", 40, {"torch": 400, "numpy": 200}),
    "synthetic": Task("synthetic", "synthetic (hidden 128, 2 layers, 100 steps, 100k windows, "
                      "batch 64)", 3, {"torch": 30, "numpy": 6}),
}  # fmt: skip
# (row label, engine, torch threads, processes, data: in memory, or an .npy series on disk read
# by N DataLoader workers: "disk:N")
CONFIGURATIONS = [
    ("torch, 1 thread", "torch", 1, 1, "memory"),
    ("torch, 2 threads", "torch", 2, 1, "memory"),
    ("NumPy engine", "numpy", 1, 1, "memory"),
    ("torch DDP, 2 processes of 1 thread", "torch", 1, 2, "memory"),
    ("torch, 1 thread, series memory-mapped, 1 data worker", "torch", 1, 1, "disk:1"),
    ("torch, 1 thread, series memory-mapped, read in-process", "torch", 1, 1, "disk:0"),
]


def problem(task: str, where: str) -> tuple[LSTMConfig, Samples, TrainParams]:
    """The task's model, samples and hyperparameters; `where` "disk:N": the same samples cut
    from the series saved as .npy, memory-mapped."""
    if task == "sunspots":
        shipped = load_checkpoint(SHIPPED)
        recipe = shipped.metadata["training"]
        _, series = read_csv_series(ROOT / "data" / "sunspots.csv", ["SUNACTIVITY"])
        params = {**recipe["params"], "epochs": 10_000, "num_threads": None}
        config, window = shipped.config, recipe["data"]["steps"]
        train_params = TrainParams(**params)
    else:
        rng = np.random.default_rng(0)
        steps = np.arange(100_000 + 100, dtype=np.float64)
        series = np.sin(0.05 * steps) + 0.1 * rng.normal(size=steps.size)
        config = LSTMConfig(input_size=1, hidden_size=128, num_layers=2, output_size=1)
        window = 100
        train_params = TrainParams(epochs=1_000, batch_size=64, validation_split=0.0)
    if where == "memory":
        return config, make_windows(series, window, source=task), train_params
    path = Path(tempfile.mkdtemp()) / f"{task}.npy"
    np.save(path, series)
    return config, SeriesWindows.open(path, window), train_params


class Clock:
    """The stop hook: starts the clock at batch `warmup`, stops the run `batches` later."""

    def __init__(self, warmup: int, batches: int) -> None:
        self.warmup, self.batches, self.calls = warmup, batches, 0
        self.started = self.seconds = 0.0

    def __call__(self) -> bool:
        if self.calls == self.warmup:
            self.started = time.perf_counter()
        if self.calls == self.warmup + self.batches:
            self.seconds = time.perf_counter() - self.started
            return True
        self.calls += 1
        return False


def samples_per_second(task: str, engine: str, threads: int, where: str) -> float:
    """One run in this process (a rank, under torchrun): global samples per second."""
    config, data, params = problem(task, where)
    params = TrainParams(**{**params.__dict__, "num_threads": threads})
    clock = Clock(TASKS[task].warmup, TASKS[task].batches[engine])
    with contextlib.suppress(TrainingCancelled):  # the clock stopped it
        workers = int(where.partition(":")[2] or 0)
        device = DEVICE if engine == "torch" else "cpu"  # the NumPy engine runs on the CPU
        trainer(engine)(config, data, params, should_stop=clock, device=device,
                        data_workers=workers)  # fmt: skip
    return clock.batches * params.batch_size / clock.seconds


def measure(task: str, engine: str, threads: int, processes: int, where: str) -> float:
    """The median of RUNS runs, each a fresh process (a torchrun group for DDP)."""
    rates = []
    for _ in range(RUNS):
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            rank = [__file__, "--rank", task, engine, str(threads), where, out.name]
            command = (
                [sys.executable, *rank]
                if processes == 1
                else [sys.executable, "-m", "torch.distributed.run", "--standalone",
                      "--nproc-per-node", str(processes), *rank]
            )  # fmt: skip
            subprocess.run(command, check=True, capture_output=True, env={**os.environ,
                           "OMP_NUM_THREADS": str(threads)})  # fmt: skip
            rates.append(json.loads(Path(out.name).read_text())["samples_per_s"])
        print(f"{task} {engine} {threads}x{processes} {where}: {rates[-1]:,.0f} samples/s",
              file=sys.stderr)  # fmt: skip
    return statistics.median(rates)


def main() -> None:
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} by `make bench-train` on {os.cpu_count()} cores"
        f"{'' if DEVICE == 'cpu' else f' (torch on {DEVICE})'}: training samples per second "
        f"(median of {RUNS} runs, each a fresh process).",
        "",
        "| task | configuration | samples/s | vs torch, 1 thread |",
        "|---|---|---:|---:|",
    ]
    for task in TASKS.values():
        rates = {label: measure(task.name, *rest) for label, *rest in CONFIGURATIONS}
        base = rates["torch, 1 thread"]
        lines += [f"| {task.label} | {label} | {rate:,.0f} | {rate / base:.2f} |"
                  for label, rate in rates.items()]  # fmt: skip
    text = "\n".join(lines) + "\n"
    print(text)
    (Path(__file__).resolve().parent / "train-results.md").write_text(text)


def rank_main(task: str, engine: str, threads: int, where: str, out: str) -> None:
    group = join_group() if launched_by_torchrun() else None
    try:
        rate = samples_per_second(task, engine, threads, where)
        if group is None or group.leader:
            Path(out).write_text(json.dumps({"samples_per_s": rate}))
    finally:
        if group is not None:
            leave_group()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rank", nargs=5, metavar=("TASK", "ENGINE", "THREADS", "DATA", "OUT"))
    args = parser.parse_args()
    if args.rank:
        task, engine, threads, where, out = args.rank
        rank_main(task, engine, int(threads), where, out)
    else:
        main()
