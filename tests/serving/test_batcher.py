"""The batcher: concurrent calls run as one forward pass, each caller gets its own rows (exactly
what it gets alone), a failing call fails alone, closing answers every accepted call, and the
event loop keeps running while the model does."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx
import numpy as np
import pytest
import torch

from app.core.errors import NotReady, Overloaded
from app.core.settings import Settings
from app.serving.batch import Batch
from app.serving.batcher import ALONE, Batcher, BatchLimits, batcher_for
from app.serving.services import Services
from model.errors import InvalidInput
from model.inference import Prediction, Predictor, RawOutput
from model.torch_predictor import TorchPredictor
from tests.support.checkpoints import make_checkpoint

pytestmark = pytest.mark.anyio

GATHER = BatchLimits(max_delay_s=0.2, max_sequences=1024, max_steps=100_000)
RNG = np.random.default_rng(3)


class RecordingPredictor(TorchPredictor):
    """The real torch model, recording the batch size of every forward pass and its thread."""

    def __init__(self, seed: int = 0, pause_s: float = 0.0) -> None:
        super().__init__(make_checkpoint(seed))
        self.pause_s = pause_s
        self.calls: list[int] = []
        self.threads: set[int] = set()
        self.torch_threads: set[int] = set()

    def forward(
        self,
        x: np.ndarray,
        lengths: np.ndarray,
        state: tuple[np.ndarray, np.ndarray] | None,
        return_steps: bool,
    ) -> RawOutput:
        self.calls.append(x.shape[0])
        self.threads.add(threading.get_ident())
        self.torch_threads.add(torch.get_num_threads())
        time.sleep(self.pause_s)  # blocks its thread, as a long forward pass does
        return super().forward(x, lengths, state, return_steps)


def batch(lengths: list[int], state: bool = False, steps: bool = False) -> Batch:
    """A ragged batch of random sequences (input 3, hidden 8, 2 layers), zero-padded."""
    x = np.zeros((len(lengths), max(lengths), 3), dtype=np.float32)
    for row, length in enumerate(lengths):
        x[row, :length] = RNG.normal(0.0, 2.0, size=(length, 3))
    initial = None
    if state:
        shape = (2, len(lengths), 8)
        initial = (
            RNG.normal(size=shape).astype(np.float32),
            RNG.normal(size=shape).astype(np.float32),
        )
    return Batch(x, np.array(lengths, dtype=np.int64), initial, steps)


def alone(predictor: Predictor, member: Batch) -> Prediction:
    return predictor.predict(member.x, member.lengths, member.state, member.return_steps)


def assert_same(got: Prediction, want: Prediction) -> None:
    # Float32 sums over a different batch size may round differently in the last bit.
    for name in ("predictions", "h", "c"):
        np.testing.assert_allclose(getattr(got, name), getattr(want, name), rtol=0, atol=1e-6)
    assert (got.steps is None) == (want.steps is None)
    for got_steps, want_steps in zip(got.steps or [], want.steps or [], strict=True):
        np.testing.assert_allclose(got_steps, want_steps, rtol=0, atol=1e-6)


async def run_all(batcher: Batcher, predictor: Predictor, members: list[Batch]) -> list[object]:
    calls = (batcher.predict(predictor, member) for member in members)
    return await asyncio.gather(*calls, return_exceptions=True)


async def test_each_caller_gets_its_own_rows_as_alone() -> None:
    """Ragged members, with and without initial states and per-step outputs, in one pass."""
    predictor = RecordingPredictor()
    members = [
        batch([5, 1, 9]),
        batch([3], state=True),
        batch([12, 2], steps=True),
        batch([1, 1, 1, 4], state=True, steps=True),
        batch([7]),
    ]
    batcher = Batcher(GATHER)
    batcher.start()
    results = await run_all(batcher, predictor, members)
    await batcher.close()
    assert predictor.calls == [11]  # every sequence in one forward pass
    for member, result in zip(members, results, strict=True):
        assert isinstance(result, Prediction)
        assert_same(result, alone(predictor, member))
        assert result.predictions.shape[0] == member.x.shape[0]


async def test_a_failing_request_fails_alone() -> None:
    """3e38 is a float32, but beyond the checkpoint's input scaling: only the model finds out.
    The merged pass fails, and each member re-runs alone."""
    predictor = RecordingPredictor()
    culprit = batch([2])
    culprit.x[0, 1, 0] = 3e38
    members = [batch([4]), culprit, batch([2, 6], state=True)]
    batcher = Batcher(GATHER)
    batcher.start()
    results = await run_all(batcher, predictor, members)
    await batcher.close()
    assert isinstance(results[1], InvalidInput) and "too large" in results[1].message
    for row in (0, 2):
        result = results[row]
        assert isinstance(result, Prediction)
        assert_same(result, alone(predictor, members[row]))


async def test_close_answers_every_accepted_call_then_refuses() -> None:
    predictor = RecordingPredictor(pause_s=0.05)
    members = [batch([3]) for _ in range(6)]
    batcher = Batcher(ALONE)  # six passes of 50 ms: most calls are still queued at close
    batcher.start()
    pending = [asyncio.ensure_future(batcher.predict(predictor, member)) for member in members]
    await asyncio.sleep(0.01)
    await batcher.close()
    assert all(call.done() for call in pending)
    for member, call in zip(members, pending, strict=True):
        assert_same(call.result(), alone(predictor, member))
    with pytest.raises(NotReady):
        await batcher.predict(predictor, members[0])


async def test_a_full_queue_refuses_at_once_and_frees_as_it_drains() -> None:
    predictor = RecordingPredictor(pause_s=0.1)
    batcher = Batcher(ALONE, max_queued=4)  # one model thread: the rest wait in the queue
    batcher.start()
    running = asyncio.ensure_future(batcher.predict(predictor, batch([2])))
    await asyncio.sleep(0.02)  # taken by the model thread: the queue is empty again
    queued = [asyncio.ensure_future(batcher.predict(predictor, batch([2, 2]))) for _ in range(2)]
    await asyncio.sleep(0)
    with pytest.raises(Overloaded) as refused:
        await batcher.predict(predictor, batch([3]))  # 4 sequences wait: one more is over
    assert refused.value.retry_after == 1
    await asyncio.gather(running, *queued)
    member = batch([3])
    assert_same(await batcher.predict(predictor, member), alone(predictor, member))
    await batcher.close()


async def test_versions_are_never_merged_and_batching_off_runs_each_alone() -> None:
    first, second = RecordingPredictor(seed=0), RecordingPredictor(seed=1)
    batcher = Batcher(GATHER)
    batcher.start()
    mixed = [(first, batch([2])), (second, batch([3])), (first, batch([4]))]
    results = await asyncio.gather(*(batcher.predict(p, member) for p, member in mixed))
    await batcher.close()
    assert first.calls == [2] and second.calls == [1]
    for (predictor, member), result in zip(mixed, results, strict=True):
        assert_same(result, alone(predictor, member))
    first.calls.clear()
    off = Batcher(ALONE)
    off.start()
    await run_all(off, first, [batch([2, 3]), batch([1])])
    await off.close()
    assert first.calls == [2, 1]


async def test_groups_stop_at_the_size_caps() -> None:
    predictor = RecordingPredictor()
    batcher = Batcher(BatchLimits(max_delay_s=0.2, max_sequences=4, max_steps=12))
    batcher.start()
    members = [batch([2] * 3), batch([2] * 2), batch([20]), batch([2, 2])]
    await run_all(batcher, predictor, members)
    await batcher.close()
    # The first fits none of the others (3 + 2 > 4 sequences; 4 x 20 > 12 steps); the second
    # skips the long one and takes the last, which fills it; the long one runs last, alone.
    assert predictor.calls == [3, 4, 1]


async def test_the_event_loop_runs_while_the_model_does_in_its_own_thread() -> None:
    predictor, ticks, initialised = RecordingPredictor(pause_s=0.3), 0, []

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    batcher = Batcher(ALONE, thread_init=lambda: initialised.append(threading.get_ident()))
    batcher.start()
    ticker = asyncio.ensure_future(tick())
    await batcher.predict(predictor, batch([2]))
    ticker.cancel()
    await batcher.close()
    assert ticks >= 10
    assert predictor.threads == set(initialised) and threading.get_ident() not in initialised


async def test_settings_turn_batching_off_and_set_torch_threads(settings: Settings) -> None:
    predictor, before = RecordingPredictor(), torch.get_num_threads()
    batcher = batcher_for(settings.model_copy(update={"batching": False, "torch_threads": 2}))
    batcher.start()
    await run_all(batcher, predictor, [batch([2]), batch([3]), batch([1, 1])])
    await batcher.close()
    torch.set_num_threads(before)  # the setting is process-wide: leave it as it was
    assert sorted(predictor.calls) == [1, 1, 2] and predictor.torch_threads == {2}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The app of these tests gathers for 50 ms, so concurrent requests surely share passes."""
    return settings.model_copy(update={"max_batch_delay_ms": 50.0})


async def test_sessions_state_and_plain_requests_share_passes_over_http(
    client: httpx.AsyncClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two sessions stream in chunks while other requests come and go: every pass may mix
    them, yet each session continues from its own last state."""
    predictor = services.registry.get(None).predictor
    sizes: list[int] = []
    forward = predictor.forward

    def recording(x: np.ndarray, *args: Any) -> RawOutput:
        sizes.append(x.shape[0])
        return forward(x, *args)

    monkeypatch.setattr(predictor, "forward", recording)
    whole = [RNG.normal(size=(6, 3)).tolist() for _ in range(2)]

    async def post(**body: Any) -> dict[str, Any]:
        response = await client.post("/v1/predict", json=body)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def stream(session_id: str) -> dict[str, Any]:
        for a, b in ((0, 2), (2, 3), (3, 6)):
            last = await post(inputs=[s[a:b] for s in whole], session_id=session_id)
        return last

    first = await post(inputs=[s[:2] for s in whole], return_state=True)
    rest = [s[2:] for s in whole]
    results = await asyncio.gather(
        stream("one"),
        stream("two"),
        post(inputs=rest, state=first["state"]),
        *(post(inputs=whole) for _ in range(3)),
    )
    sizes_seen = list(sizes)
    expected = (await post(inputs=whole))["predictions"]
    for result in results:
        np.testing.assert_allclose(result["predictions"], expected, atol=1e-5)
    assert max(sizes_seen) >= 6  # at least three requests of two sequences in one pass
