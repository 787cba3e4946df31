"""`lstm-serve train --nproc-per-node 2`: DistributedDataParallel under torchrun (gloo, CPU).
With the same seed and global batch, two ranks end with the weights of one process; a rank
killed mid-run ends the whole group, never leaves it hanging."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from model.checkpoint import load_checkpoint
from tests.support.processes import children
from tests.support.servers import LSTM_SERVE

pytestmark = pytest.mark.slow

# A last, short batch (162 training rows, batches of 16) shares rows unevenly between the ranks;
# no dropout (each rank draws its own masks) and a TBPTT window exercise the rest.
COMMON = ["--epochs", "4", "--batch-size", "16", "--hidden-size", "8", "--num-layers", "2",
          "--dropout", "0", "--tbptt", "4", "--threads", "1", "--patience", "0"]  # fmt: skip


@pytest.fixture
def data(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(203, 6, 2)).astype(np.float32)
    np.savez(tmp_path / "d.npz", inputs=x, targets=x[:, -1, :1] + 0.3 * x[:, 0, 1:])
    return tmp_path / "d.npz"


def _train(data: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [str(LSTM_SERVE), "train", str(data), *COMMON, *extra, "--out", str(out)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


def test_two_ranks_give_the_weights_of_one_process(data: Path, tmp_path: Path) -> None:
    one, two = tmp_path / "one.safetensors", tmp_path / "two.safetensors"
    assert _train(data, one).returncode == 0
    ranks = _train(data, two, "--nproc-per-node", "2")
    assert ranks.returncode == 0, ranks.stderr
    alone, parallel = load_checkpoint(one), load_checkpoint(two)
    for key, array in alone.tensors.items():
        np.testing.assert_allclose(parallel.tensors[key], array, rtol=0, atol=1e-5)
    summary = [alone.metadata["training"][k] for k in ("epochs_run", "best_epoch")]
    assert summary == [parallel.metadata["training"][k] for k in ("epochs_run", "best_epoch")]


def test_a_rank_killed_mid_run_ends_the_group(data: Path, tmp_path: Path) -> None:
    command = [str(LSTM_SERVE), "train", str(data), *COMMON[2:], "--epochs", "100000",
               "--nproc-per-node", "2", "--out", str(tmp_path / "never.safetensors")]  # fmt: skip
    launcher = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ranks = _ranks(launcher.pid)
        os.kill(ranks[-1], signal.SIGKILL)
        started = time.monotonic()
        assert launcher.wait(timeout=120) != 0
        assert time.monotonic() - started < 60  # within the collective time-out, at the most
        assert not (tmp_path / "never.safetensors").exists()
    finally:
        if launcher.poll() is None:
            launcher.kill()


def _ranks(launcher: int, timeout: float = 60.0) -> list[int]:
    """The two rank processes: children of torchrun, itself the command's child, once both
    train (their progress is not visible; they have started when both exist a while)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for agent in children(launcher):
            ranks = children(agent)
            if len(ranks) == 2:
                time.sleep(5.0)  # past the imports and the rendezvous: training
                return ranks
        time.sleep(0.1)
    raise AssertionError("torchrun did not start two ranks")
