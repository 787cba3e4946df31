"""gRPC against HTTP on one lstm-serve (`serve --grpc-port`), beside KServe's own gRPC and REST
server on the same classic model: a single-sequence workload (one 10-step sequence per call,
16 calls in flight) and a session-step workload (each of 16 callers sends one step at a time of
its own sequence: Triton's sequence parameters over unary gRPC, over one ModelStreamInfer stream
per caller, and over /v2 REST; KServe keeps no sequences, so its row is the same one-step
request without state, a bound on the per-call cost alone).

The load comes from this script (ghz is not packaged for Debian bookworm): one process per core,
each with one grpc.aio channel or its own keep-alive HTTP connections, every call timed. Each
row runs ROUNDS times; the table gives the median round (by requests/s) and its p50 and p99: the
machine is shared and noisy. Writes bench/grpc-results.md. Run with `make bench-grpc` (~3 min).
KServe runs from bench/.venv-kserve when `make bench` made it, else from the dev venv (the same
kserve==0.21.0 and torch pins)."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import platform
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from classic import INPUT_SIZE, STEPS
from pyload import read_answer
from servers import HERE, KSERVE_PYTHON, OURS, ROOT, Server, start, stop
from workloads import write_checkpoint

sys.path.insert(0, str(ROOT))  # the committed stubs, app/protocol/v2/proto/

SECONDS, ROUNDS, CALLERS = 5.0, 3, 16
RESULTS = HERE / "grpc-results.md"
V2_INFER = "/v2/models/lstm/infer"  # both servers' REST path


class Row(NamedTuple):
    rate: float  # requests/s
    p50_ms: float
    p99_ms: float
    errors: int
    server_cpu_ms: float  # the server's CPU time per request


@dataclass(frozen=True)
class Target:
    """One row: how to call, where, with what."""

    label: str
    kind: str  # "grpc", "stream" or "http"
    server: str  # "ours" or "kserve"
    address: str  # host:port
    input_name: str  # the model's input: lstm-serve's "inputs", KServe's "input-0"
    steps: int  # STEPS (single sequence) or 1 (a session step)
    session: bool  # Triton's sequence parameters, one sequence per caller


def _inputs(steps: int) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(1, steps, INPUT_SIZE)).astype(np.float32)


def _grpc_message(target: Target, caller: str, first: bool) -> Any:
    from app.protocol.v2.proto import grpc_predict_v2_pb2 as pb

    x = _inputs(target.steps)
    tensor = {"name": target.input_name, "datatype": "FP32", "shape": list(x.shape)}
    message = pb.ModelInferRequest(model_name="lstm", inputs=[tensor])
    message.raw_input_contents.append(x.tobytes())
    if target.session:
        message.parameters["sequence_id"].string_param = caller
        message.parameters["sequence_start"].bool_param = first
    return message


def _http_body(target: Target, caller: str, first: bool) -> bytes:
    x = _inputs(target.steps)
    tensor = {"name": target.input_name, "shape": list(x.shape), "datatype": "FP32"}
    body: dict[str, Any] = {"inputs": [{**tensor, "data": x.reshape(-1).tolist()}]}
    if target.session:
        body["parameters"] = {"sequence_id": caller, "sequence_start": first}
    return json.dumps(body, separators=(",", ":")).encode()


async def _timed(call: Callable[[bool], Awaitable[bool]], until: float) -> list[float]:
    """Latencies of `call` (its argument: is this the first call) until `until`; -1 for an
    error."""
    latencies, first = [], True
    while time.monotonic() < until:
        started = time.monotonic()
        ok = await call(first)
        latencies.append(time.monotonic() - started if ok else -1.0)
        first = False
    return latencies


async def _grpc_caller(stub: Any, target: Target, caller: str, until: float) -> list[float]:
    first, rest = (_grpc_message(target, caller, start) for start in (True, False))
    if target.kind == "stream":
        stream = stub.ModelStreamInfer()

        async def on_stream(is_first: bool) -> bool:
            await stream.write(first if is_first else rest)
            answer = await stream.read()
            return not answer.error_message

        try:
            return await _timed(on_stream, until)
        finally:
            await stream.done_writing()

    async def unary(is_first: bool) -> bool:
        await stub.ModelInfer(first if is_first else rest)
        return True

    return await _timed(unary, until)


async def _http_caller(target: Target, caller: str, until: float) -> list[float]:
    host, port = target.address.split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    bodies = {start: _http_body(target, caller, start) for start in (True, False)}

    async def post(is_first: bool) -> bool:
        body = bodies[is_first]
        head = (
            f"POST {V2_INFER} HTTP/1.1\r\nHost: {target.address}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        writer.write(head + body)
        return await read_answer(reader)

    try:
        return await _timed(post, until)
    finally:
        writer.close()


def _process(args: tuple[Target, int, int, float]) -> list[float]:
    """One load process's latencies: its own clock starts once it is set up, so a slow start
    of a process shortens no round."""
    target, index, callers, seconds = args

    async def main() -> list[float]:
        until = time.monotonic() + seconds
        names = [
            f"{target.kind}-{os.getpid()}-{index}-{n}-{time.time_ns()}" for n in range(callers)
        ]
        if target.kind == "http":
            runs = [_http_caller(target, name, until) for name in names]
            return [t for part in await asyncio.gather(*runs) for t in part]
        import grpc.aio

        from app.protocol.v2.proto import grpc_predict_v2_pb2_grpc as pb_grpc

        async with grpc.aio.insecure_channel(target.address) as channel:
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            runs = [_grpc_caller(stub, target, name, until) for name in names]
            return [t for part in await asyncio.gather(*runs) for t in part]

    return asyncio.run(main())


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of `pid` and its descendants (KServe's workers), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:  # gone meanwhile
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        pending += [int(child) for child in children]
    return total


def run(target: Target, server_pid: int) -> Row:
    """One round: requests/s, p50 ms, p99 ms, errors, and the server's CPU ms per request
    (the load generator shares the cores, and a gRPC client costs more CPU than an HTTP one:
    this column is the server's own cost)."""
    cpu_before = _cpu_seconds(server_pid)
    processes = min(os.cpu_count() or 1, CALLERS)
    shares = [CALLERS // processes + (i < CALLERS % processes) for i in range(processes)]
    # fork: the children start at once (no torch to import again), before any gRPC channel.
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        parts = pool.map(_process, [(target, i, n, SECONDS) for i, n in enumerate(shares)])
    cpu = _cpu_seconds(server_pid) - cpu_before
    latencies = sorted(t for part in parts for t in part if t >= 0)
    errors = sum(t < 0 for part in parts for t in part)
    count = len(latencies)
    if not count:
        return Row(0.0, 0.0, 0.0, errors, 0.0)
    p99 = latencies[min(count - 1, int(count * 0.99))]
    return Row(count / SECONDS, latencies[count // 2] * 1e3, p99 * 1e3, errors, cpu / count * 1e3)


def median_round(target: Target, server_pid: int) -> Row:
    rounds = sorted((run(target, server_pid) for _ in range(ROUNDS)), key=lambda r: r.rate)
    print(f"  {target.label}: " + ", ".join(f"{r.rate:.0f}/s" for r in rounds), flush=True)
    return rounds[len(rounds) // 2]


def targets(ours: int, ours_grpc: int, kserve: int, kserve_grpc: int) -> dict[str, list[Target]]:
    a, b, c, d = (f"127.0.0.1:{port}" for port in (ours, ours_grpc, kserve, kserve_grpc))
    return {
        f"single sequence ({STEPS} steps per call, {CALLERS} calls in flight)": [
            Target("lstm-serve gRPC", "grpc", "ours", b, "inputs", STEPS, False),
            Target("lstm-serve HTTP /v2", "http", "ours", a, "inputs", STEPS, False),
            Target("KServe gRPC", "grpc", "kserve", d, "input-0", STEPS, False),
            Target("KServe HTTP /v2", "http", "kserve", c, "input-0", STEPS, False),
        ],
        f"session step (1 step per call, {CALLERS} sequences at once)": [
            Target("lstm-serve gRPC unary", "grpc", "ours", b, "inputs", 1, True),
            Target("lstm-serve gRPC stream", "stream", "ours", b, "inputs", 1, True),
            Target("lstm-serve HTTP /v2", "http", "ours", a, "inputs", 1, True),
            Target("KServe gRPC (no state)", "grpc", "kserve", d, "input-0", 1, False),
        ],
    }


def start_servers(directory: Path) -> tuple[Server, Server]:
    checkpoint = write_checkpoint(directory)
    command = [
        str(OURS / "lstm-serve"), "serve", "--model", str(checkpoint), "--port", "8610",
        "--grpc-port", "8611", "--data-dir", str(directory / "var"),
    ]  # fmt: skip
    ours = start("lstm-serve", command, 8610, "/readyz", {}, directory / "ours.log")
    python = KSERVE_PYTHON if KSERVE_PYTHON.exists() else OURS / "python"
    command = [
        str(python), "kserve_server.py", str(checkpoint), "--http_port", "8620",
        "--grpc_port", "8621",
    ]  # fmt: skip
    try:
        # One torch thread, as lstm-serve's default: KServe's own default (a thread per core)
        # oversubscribes these cores when the load generator shares them (bench/servers.py).
        one_thread = {"OMP_NUM_THREADS": "1"}
        kserve = start(
            "KServe", command, 8620, "/v2/models/lstm/ready", one_thread, directory / "k.log"
        )
    except RuntimeError:
        stop(ours)
        raise
    return ours, kserve


def report(rows: dict[str, list[tuple[Target, Row]]]) -> str:
    lines = [
        "# gRPC and HTTP",
        "",
        "Written by `make bench-grpc` (bench/grpc_bench.py); docs/grpc.md quotes it.",
        f"Each row: the median of {ROUNDS} rounds of {SECONDS:.0f} s (by requests/s), with that",
        "round's latencies and the server's CPU time per request, from one load-generating",
        f"process per core. The machine is shared and noisy ({os.cpu_count()} cores, with the",
        "servers and the load generator on the same cores, and a gRPC client costs the load",
        "generator more CPU than an HTTP one): compare rows of one run, not runs, and read the",
        "server's CPU per request as its own cost.",
        "",
        f"Python {platform.python_version()}, {platform.machine()}; the classic model "
        f"({INPUT_SIZE} features, 2 layers of 20); lstm-serve with its defaults, KServe with its "
        "defaults and one torch thread (OMP_NUM_THREADS=1, as lstm-serve's TORCH_THREADS).",
        "",
    ]
    header = "| server, transport | requests/s | p50 ms | p99 ms | server CPU ms/request | errors |"
    for workload, found in rows.items():
        lines += [f"## {workload}", "", header, "|---|---:|---:|---:|---:|---:|"]
        for target, row in found:
            lines.append(
                f"| {target.label} | {row.rate:.0f} | {row.p50_ms:.2f} | {row.p99_ms:.2f} "
                f"| {row.server_cpu_ms:.2f} | {row.errors} |"
            )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ours, kserve = start_servers(Path(tmp))
        try:
            pids = {"ours": ours.process.pid, "kserve": kserve.process.pid}
            rows = {}
            for workload, listed in targets(8610, 8611, 8620, 8621).items():
                print(workload, flush=True)
                rows[workload] = [(t, median_round(t, pids[t.server])) for t in listed]
        finally:
            stop(ours)
            stop(kserve)
    RESULTS.write_text(report(rows))
    print(RESULTS.read_text())


if __name__ == "__main__":
    main()
