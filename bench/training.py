"""A training job on our server for workload (c): started through `POST /v1/train`, waited for
until it trains, cancelled at the end."""

from __future__ import annotations

import json
import time
import urllib.request
from types import TracebackType
from typing import Any

from workloads import training_request


class TrainingJob:
    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.id = ""

    def _call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data, self.headers, method=method)
        with urllib.request.urlopen(request, timeout=30) as answer:
            result: dict[str, Any] = json.loads(answer.read())
            return result

    def __enter__(self) -> TrainingJob:
        self.id = self._call("POST", "/v1/train", training_request())["id"]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            job = self._call("GET", f"/v1/train/{self.id}")
            if job["state"] == "running" and job["progress"] is not None:
                return self  # past its first epoch: the worker is training
            if job["state"] not in ("queued", "running"):
                raise RuntimeError(f"training job ended before the measurement: {job}")
            time.sleep(0.5)
        raise RuntimeError("training job did not start within 120 s")

    def check_still_running(self) -> None:
        job = self._call("GET", f"/v1/train/{self.id}")
        if job["state"] != "running":
            raise RuntimeError(f"training job stopped during the measurement: {job['state']}")

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._call("POST", f"/v1/train/{self.id}/cancel")
