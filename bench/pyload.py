"""The fallback load generator when wrk is missing: one process per core, each holding its share
of the keep-alive connections with asyncio streams. Slower than wrk: it can be the bottleneck
for the single-sequence workload, which the results then say."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from urllib.parse import urlsplit


async def read_answer(reader: asyncio.StreamReader) -> bool:
    """One HTTP/1.1 answer read whole (head, then Content-Length bytes): whether it was a 200."""
    status = await reader.readline()
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    await reader.readexactly(length)
    return b" 200 " in status


async def _connection(url: str, body: bytes, content_type: str, until: float) -> list[float]:
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    head = (
        f"POST {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    latencies = []
    while time.monotonic() < until:
        start = time.monotonic()
        writer.write(head + body)
        ok = await read_answer(reader)
        latencies.append(time.monotonic() - start if ok else -1.0)
    writer.close()
    return latencies


def _process(args: tuple[str, bytes, str, int, float]) -> list[float]:
    url, body, content_type, connections, until = args

    async def main() -> list[float]:
        runs = [_connection(url, body, content_type, until) for _ in range(connections)]
        return [t for latencies in await asyncio.gather(*runs) for t in latencies]

    return asyncio.run(main())


def run_python_load(
    url: str, body: bytes, content_type: str, connections: int, seconds: float
) -> tuple[float, float, float, int]:
    """requests/s, p50 ms, p99 ms, errors."""
    processes = min(os.cpu_count() or 1, connections)
    until = time.monotonic() + seconds
    shares = [connections // processes + (i < connections % processes) for i in range(processes)]
    with multiprocessing.Pool(processes) as pool:
        parts = pool.map(_process, [(url, body, content_type, n, until) for n in shares])
    latencies = sorted(t for part in parts for t in part if t >= 0)
    errors = sum(t < 0 for part in parts for t in part)
    count = len(latencies)
    return (count / seconds, latencies[count // 2] * 1e3,
            latencies[min(count - 1, int(count * 0.99))] * 1e3, errors)  # fmt: skip
