"""NumPy forward vs torch forward on one CPU thread: batch 256, 10 steps, input 10, hidden 20,
2 layers (the serving size of a small model). Prints the median time of each and numpy/torch.

    python bench/bench_numpy_forward.py [--repeats 15] [--number 50]

Both libraries get one thread: torch.set_num_threads(1), and NumPy's BLAS through threadpoolctl
when it is installed, else through OMP_NUM_THREADS / OPENBLAS_NUM_THREADS set here before NumPy
is imported (the variables are read once, at import).
"""

from __future__ import annotations

import importlib.util
import os

HAVE_THREADPOOLCTL = importlib.util.find_spec("threadpoolctl") is not None
if not HAVE_THREADPOOLCTL:
    for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_name] = "1"

import argparse  # noqa: E402
import contextlib  # noqa: E402
import timeit  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from model.config import LSTMConfig  # noqa: E402
from model.lstm import LSTMModel  # noqa: E402
from model.numpy_model import predict  # noqa: E402

CONFIG = LSTMConfig(input_size=10, hidden_size=20, num_layers=2, output_size=1)
BATCH, STEPS = 256, 10


def median_seconds(fn: Callable[[], object], repeats: int, number: int) -> float:
    """Median over `repeats` runs of the mean time of `number` calls."""
    fn()  # warm up: first-call allocations and lazy initialisation
    return float(np.median(timeit.repeat(fn, number=number, repeat=repeats))) / number


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--number", type=int, default=50)
    args = parser.parse_args()
    limits: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
    if HAVE_THREADPOOLCTL:
        limits = importlib.import_module("threadpoolctl").threadpool_limits(limits=1)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = LSTMModel(CONFIG).eval()
    params = {key: value.detach().numpy().copy() for key, value in model.state_dict().items()}
    x = np.random.default_rng(0).standard_normal((BATCH, STEPS, CONFIG.input_size))
    x = x.astype(np.float32)
    x_torch = torch.from_numpy(x)

    def torch_forward() -> np.ndarray:
        with torch.inference_mode():
            predictions: np.ndarray = model(x_torch).predictions.numpy()
        return predictions

    def numpy_forward() -> np.ndarray:
        return predict(x, params)[0]

    with limits:
        torch_s = median_seconds(torch_forward, args.repeats, args.number)
        numpy_s = median_seconds(numpy_forward, args.repeats, args.number)
    agree = float(np.abs(numpy_forward() - torch_forward()).max())
    print(f"B={BATCH} T={STEPS} F={CONFIG.input_size} H={CONFIG.hidden_size} L={CONFIG.num_layers}")
    print(f"threads: 1 (BLAS via {'threadpoolctl' if HAVE_THREADPOOLCTL else 'environment'})")
    print(f"torch forward: {torch_s * 1e6:8.1f} us   (torch {torch.__version__})")
    print(f"numpy forward: {numpy_s * 1e6:8.1f} us   (numpy {np.__version__})")
    print(f"numpy/torch:   {numpy_s / torch_s:8.2f}   (max |difference| {agree:.1e})")


if __name__ == "__main__":
    main()
