"""The truncation study: does an LSTM tolerate (and use) longer truncation than an RNN?

    python -m experiments.truncation.study           # the full sweep (make study), ~20 min
    python -m experiments.truncation.study --quick   # a reduced grid in under a minute

Every run trains with the project's own loss functions (`model.torch_trainer.batch_losses`:
streaming truncation for the per-step echo task, TBPTT for the sequence-to-one adding problem),
Adam, and gradient-norm clipping at 1.0, recording the norm before clipping at every step. Each
cell's learning rate comes from the same search: three rates, one seed, on one middle case.
A subset (rnn and lstm on one echo lag) is replicated with the NumPy engine. Results go to
experiments/truncation/results.json, results.md and the PNG plots beside them; the criterion
of success is fixed in README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

# One thread per run; runs go in parallel, one per core.
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import numpy as np  # noqa: E402

from experiments.truncation.tasks import STEPS_ECHO, Task, adding, echo  # noqa: E402

HERE = Path(__file__).resolve().parent
CELLS = ("rnn", "gru", "lstm")
SUCCESS = 0.1  # a run succeeds when its test MSE is below this fraction of the baseline
HIDDEN, BATCH, TRAIN, TEST = 32, 64, 1024, 256
RATES = (0.003, 0.01, 0.03)  # each cell's search, on PILOT
PILOT = {"task": "echo", "lag": 8, "k": STEPS_ECHO}
CLIP = 1.0
# Lines that stay apart where cells agree: marker, dash and size differ.
STYLES = ({"marker": "o", "linestyle": "-", "markersize": 9},
          {"marker": "s", "linestyle": "--", "markersize": 6},
          {"marker": "^", "linestyle": ":", "markersize": 4})  # fmt: skip


def grid(quick: bool) -> list[dict[str, Any]]:
    """Every case: task, lag (echo) or length (adding), truncation k, cell, seed."""
    seeds = range(2) if quick else range(5)
    cases = []
    lags = (4,) if quick else (2, 4, 8, 16, 32)
    for lag in lags:
        ks = (2, STEPS_ECHO) if quick else sorted({max(1, lag // 2), lag, 2 * lag, STEPS_ECHO})
        for k in (k for k in ks if k <= STEPS_ECHO):
            cases += [{"task": "echo", "lag": lag, "k": k} for _ in range(1)]
    if not quick:
        for steps in (16, 32, 64):
            for k in (steps // 4, steps // 2, 3 * steps // 4, steps):
                cases.append({"task": "adding", "lag": steps, "k": k})
    return [{**case, "cell": cell, "seed": seed} for case in cases for cell in CELLS
            for seed in seeds]  # fmt: skip


def data(case: dict[str, Any], seed: int) -> Task:
    if case["task"] == "echo":
        return echo(TRAIN + TEST, case["lag"], seed)
    return adding(TRAIN + TEST, case["lag"], seed)


def run_torch(case: dict[str, Any], rate: float, epochs: int) -> dict[str, Any]:
    """One training run with the torch engine's losses: test MSE and gradient norms."""
    import torch

    from model.config import LSTMConfig
    from model.lstm import LSTMModel
    from model.torch_trainer import batch_losses

    torch.set_num_threads(1)
    torch.manual_seed(case["seed"])
    task = data(case, 1000 + case["seed"])
    x, y = torch.from_numpy(task.inputs), torch.from_numpy(task.targets)
    config = LSTMConfig(x.shape[2], HIDDEN, 1, 1, cell=case["cell"])
    model = LSTMModel(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=rate)
    generator = torch.Generator().manual_seed(case["seed"])
    norms = []
    started = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(TRAIN, generator=generator)
        for start in range(0, TRAIN, BATCH):
            rows = order[start : start + BATCH]
            for loss, _ in batch_losses(model, x[rows], y[rows], case["k"]):
                optimizer.zero_grad()
                loss.backward()  # type: ignore[no-untyped-call]
                norms.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)))
                optimizer.step()
    with torch.no_grad():
        out = model(x[TRAIN:], return_steps=y.ndim == 3)
        predicted = out.steps if y.ndim == 3 else out.predictions
        mse = float(((predicted - y[TRAIN:]) ** 2).mean())
    return _outcome(case, task, mse, norms, time.perf_counter() - started, "torch")


def run_numpy(case: dict[str, Any], rate: float, epochs: int) -> dict[str, Any]:
    """The same run with the NumPy engine's losses, Adam and clipping."""
    from model.config import LSTMConfig
    from model.numpy_model import init_params, predict
    from model.numpy_trainer import Adam, batch_losses, clip_grad_norm

    task = data(case, 1000 + case["seed"])
    rng = np.random.default_rng(case["seed"])
    config = LSTMConfig(task.inputs.shape[2], HIDDEN, 1, 1, cell=case["cell"])
    params = init_params(config, rng)
    optimizer = Adam(rate)
    norms = []
    started = time.perf_counter()
    x, y = task.inputs[:TRAIN], task.targets[:TRAIN]
    for _ in range(epochs):
        order = rng.permutation(TRAIN)
        for start in range(0, TRAIN, BATCH):
            rows = order[start : start + BATCH]
            for _, grads, _ in batch_losses(x[rows], y[rows], params, case["k"]):
                norms.append(clip_grad_norm(grads, CLIP))
                optimizer.step(params, grads)
    pred, _, _, steps = predict(task.inputs[TRAIN:], params, return_steps=task.targets.ndim == 3)
    predicted = steps if steps is not None else pred
    mse = float(np.mean((predicted - task.targets[TRAIN:]) ** 2))
    return _outcome(case, task, mse, norms, time.perf_counter() - started, "numpy")


def _outcome(case: dict[str, Any], task: Task, mse: float, norms: list[float], seconds: float,
             engine: str) -> dict[str, Any]:  # fmt: skip
    finite = [n for n in norms if np.isfinite(n)]
    return {**case, "engine": engine, "mse": mse, "baseline": task.baseline,
            "ratio": mse / task.baseline, "success": bool(mse < SUCCESS * task.baseline),
            "grad_median": statistics.median(finite) if finite else float("nan"),
            "grad_max": max(finite) if finite else float("nan"),
            "clipped": sum(n > CLIP for n in norms) / max(len(norms), 1),
            "seconds": round(seconds, 2)}  # fmt: skip


def _job(arguments: tuple[str, dict[str, Any], float, int]) -> dict[str, Any]:
    engine, case, rate, epochs = arguments
    return (run_torch if engine == "torch" else run_numpy)(case, rate, epochs)


def epochs_for(case: dict[str, Any], quick: bool) -> int:
    return 15 if quick else (30 if case["task"] == "echo" else 40)


def search_rates(pool: ProcessPoolExecutor, quick: bool) -> dict[str, float]:
    """Each cell's learning rate: the best of RATES on PILOT, one seed each (the same budget)."""
    trials = [("torch", {**PILOT, "cell": cell, "seed": 99}, rate, epochs_for(PILOT, quick))
              for cell in CELLS for rate in RATES]  # fmt: skip
    results = list(pool.map(_job, trials))
    best = {}
    for cell in CELLS:
        mine = [(r["mse"], t[2]) for r, t in zip(results, trials, strict=True) if r["cell"] == cell]
        best[cell] = min(mine)[1]
    return best


def replication_grid(quick: bool) -> list[dict[str, Any]]:
    """rnn and lstm on the echo task at lag 4, below and above it, with the NumPy engine."""
    seeds = range(1) if quick else range(3)
    return [{"task": "echo", "lag": 4, "k": k, "cell": cell, "seed": seed}
            for k in (2, 16) for cell in ("rnn", "lstm") for seed in seeds]  # fmt: skip


def study(quick: bool) -> dict[str, Any]:
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        rates = search_rates(pool, quick)
        cases = grid(quick)
        runs = list(pool.map(_job, [("torch", c, rates[c["cell"]], epochs_for(c, quick))
                                    for c in cases]))  # fmt: skip
        replicated = replication_grid(quick)
        numpy_runs = list(pool.map(_job, [("numpy", c, rates[c["cell"]], epochs_for(c, quick))
                                          for c in replicated]))  # fmt: skip
        torch_twins = list(pool.map(_job, [("torch", c, rates[c["cell"]], epochs_for(c, quick))
                                           for c in replicated]))  # fmt: skip
    return {"quick": quick, "rates": rates, "runs": runs, "numpy": numpy_runs,
            "numpy_torch": torch_twins, "seconds": round(time.perf_counter() - started, 1),
            "cpus": os.cpu_count()}  # fmt: skip


def summarize(runs: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """One row per (task, lag, k, cell): success rate, MSE median and spread, gradient norms."""
    keys = sorted({(r["task"], r["lag"], r["k"], r["cell"]) for r in runs},
                  key=lambda key: (key[0], key[1], key[2], CELLS.index(key[3])))  # fmt: skip
    for task, lag, k, cell in keys:
        mine = [r for r in runs if (r["task"], r["lag"], r["k"], r["cell"]) == (task, lag, k, cell)]
        ratios = [r["ratio"] for r in mine]
        yield {"task": task, "lag": lag, "k": k, "cell": cell, "runs": len(mine),
               "success": sum(r["success"] for r in mine) / len(mine),
               "ratio_median": statistics.median(ratios), "ratio_min": min(ratios),
               "ratio_max": max(ratios),
               "grad_median": statistics.median(r["grad_median"] for r in mine),
               "grad_max": max(r["grad_max"] for r in mine),
               "clipped": statistics.mean(r["clipped"] for r in mine)}  # fmt: skip


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| task | lag d (adding: T) | k | cell | success | MSE / baseline: median [min, max] "
             "| grad norm: median, max | steps clipped |",
             "|---|---:|---:|---|---:|---|---|---:|"]  # fmt: skip
    for r in rows:
        lines.append(
            f"| {r['task']} | {r['lag']} | {r['k']} | {r['cell']} | {r['success']:.0%} | "
            f"{r['ratio_median']:.3f} [{r['ratio_min']:.3f}, {r['ratio_max']:.3f}] | "
            f"{r['grad_median']:.2g}, {r['grad_max']:.2g} | {r['clipped']:.0%} |"
        )
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], task: str, path: Path) -> None:
    """Success rate against k for each lag, one line per cell."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lags = sorted({r["lag"] for r in rows if r["task"] == task})
    figure, axes = plt.subplots(1, len(lags), figsize=(3.2 * len(lags), 3.0), squeeze=False)
    for axis, lag in zip(axes[0], lags, strict=True):
        for cell, style in zip(CELLS, STYLES, strict=True):
            mine = [r for r in rows if (r["task"], r["lag"], r["cell"]) == (task, lag, cell)]
            axis.plot([r["k"] for r in mine], [r["success"] for r in mine], label=cell, **style)
        axis.set_xscale("log", base=2)
        axis.set_ylim(-0.05, 1.05)
        axis.set_title(f"{'lag d' if task == 'echo' else 'T'} = {lag}")
        axis.set_xlabel("truncation k")
    axes[0][0].set_ylabel("success rate")
    axes[0][-1].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def write(results: dict[str, Any], out: Path) -> list[dict[str, Any]]:
    rows = list(summarize(results["runs"]))
    (out / "results.json").write_text(json.dumps(results, indent=1))
    agree = [(n["success"], t["success"]) for n, t in
             zip(results["numpy"], results["numpy_torch"], strict=True)]  # fmt: skip
    text = [f"`python -m experiments.truncation.study{' --quick' if results['quick'] else ''}`: "
            f"{len(results['runs'])} runs in {results['seconds']:.0f} s on {results['cpus']} "
            f"cores; learning rates chosen per cell: {results['rates']}.", "", table(rows), "",
            f"NumPy replication: {sum(a == b for a, b in agree)} of {len(agree)} runs reach the "
            "same verdict as torch.", ""]  # fmt: skip
    (out / "results.md").write_text("\n".join(text))
    for task in sorted({r["task"] for r in rows}):
        plot(rows, task, out / f"success-{task}.png")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m experiments.truncation.study")
    parser.add_argument("--quick", action="store_true", help="a reduced grid, under a minute")
    parser.add_argument("--out", type=Path, default=HERE, help="where results go")
    args = parser.parse_args()
    results = study(args.quick)
    args.out.mkdir(parents=True, exist_ok=True)
    write(results, args.out)
    print((args.out / "results.md").read_text())


if __name__ == "__main__":
    main()
