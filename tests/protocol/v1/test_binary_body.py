"""Binary predict bodies: .npy and .npz give the answers that JSON gives, and every malformed
one gets its status and the one error shape, without any array being unpickled."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pytest
from numpy.lib import format as npy_format

from tests.support import npy_files as files
from tests.support.bad_requests import LIMITS, BadRequest, check_error

pytestmark = pytest.mark.anyio

NPY, NPZ = "application/x-npy", "application/x-npz"
RNG = np.random.default_rng(4)
X = RNG.normal(0.0, 2.0, size=(3, 5, 3))


def npy(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, array, allow_pickle=True)
    return out.getvalue()


def claiming(shape: tuple[int, ...], data: bytes = b"") -> bytes:
    """An .npy header for float64 `shape`, followed by `data` only."""
    out = io.BytesIO()
    npy_format.write_array_header_1_0(out, {"descr": "<f8", "fortran_order": False, "shape": shape})
    return out.getvalue() + data


def npz(compress: bool = False, **arrays: np.ndarray) -> bytes:
    out = io.BytesIO()
    (np.savez_compressed if compress else np.savez)(out, **arrays)
    return out.getvalue()


async def post(
    client: httpx.AsyncClient, content: bytes, media_type: str, query: str = ""
) -> httpx.Response:
    return await client.post(
        f"/v1/predict{query}", content=content, headers={"content-type": media_type}
    )


async def as_json(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await client.post("/v1/predict", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.dtype(">f8")])
async def test_npy_answers_as_json_does(client: httpx.AsyncClient, dtype: Any) -> None:
    x = X.astype(dtype)
    response = await post(client, npy(x), NPY, "?return_state=true&return_sequence=1")
    assert response.status_code == 200, response.text
    want = await as_json(
        client, inputs=x.astype(np.float32).tolist(), return_state=True, return_sequence=True
    )
    assert response.json() == want


async def test_npz_with_lengths_and_state_answers_as_json_does(client: httpx.AsyncClient) -> None:
    lengths = np.array([5, 2, 1])
    x = X.copy()
    x[1, 2:] = np.nan  # padding: ignored, whatever it holds
    h, c = RNG.normal(size=(2, 3, 8)), RNG.normal(size=(2, 3, 8))
    body = npz(compress=True, inputs=x, lengths=lengths, h=h, c=c)
    response = await post(client, body, NPZ, "?return_state=true&session_id=bin")
    assert response.status_code == 200, response.text
    sequences = [X[b, :n].astype(np.float32).tolist() for b, n in enumerate(lengths)]
    state = {"h": h.astype(np.float32).tolist(), "c": c.astype(np.float32).tolist()}
    want = await as_json(client, inputs=sequences, state=state, return_state=True)
    got = response.json()
    assert got["session"] == {"id": "bin", "version": "1", "started": True}
    np.testing.assert_allclose(got["predictions"], want["predictions"], atol=1e-6)
    np.testing.assert_allclose(got["state"]["c"], want["state"]["c"], atol=1e-6)


class Exploding:
    """Unpickling this would raise; a refused object array is never unpickled."""

    def __reduce__(self) -> tuple[Callable[[], None], tuple[()]]:
        return (_explode, ())


def _explode() -> None:
    raise AssertionError("unpickled")


def _with(index: tuple[int, ...], value: float, dtype: Any = np.float64) -> np.ndarray:
    x = X.astype(dtype)
    x[index] = value
    return x


def _bomb() -> bytes:
    """Well under the body limit packed, far over it unpacked."""
    return npz(compress=True, inputs=np.zeros((1, 1, 3 * LIMITS["max_body_bytes"])))


CASES: list[tuple[str, bytes, str, str, BadRequest]] = [
    ("garbage-npy", b"not an array", NPY, "", BadRequest("", 400, "invalid_body", [])),
    ("object-array", npy(np.array([Exploding()], dtype=object)), NPY, "",
     BadRequest("", 400, "invalid_body", [])),
    ("integers", npy(np.ones((1, 2, 3), dtype=np.int64)), NPY, "",
     BadRequest("", 422, "invalid_input", ["inputs"])),
    ("two-dimensional", npy(np.ones((2, 3))), NPY, "",
     BadRequest("", 422, "invalid_input", ["inputs"])),
    ("nan", npy(_with((0, 1, 2), np.nan)), NPY, "",
     BadRequest("", 422, "invalid_input", ["inputs", 0, 1, 2])),
    ("beyond-float32", npy(_with((2, 0, 1), -1e39)), NPY, "",
     BadRequest("", 422, "invalid_input", ["inputs", 2, 0, 1])),
    ("truncated", npy(X)[:-8], NPY, "", BadRequest("", 400, "invalid_body", [])),
    ("huge-shape", claiming((2**40, 2**40, 3), bytes(64)), NPY, "",
     BadRequest("", 400, "invalid_body", [])),
    ("wrong-features", npy(X[:, :, :2]), NPY, "",
     BadRequest("", 422, "invalid_input", ["inputs", 0, 0])),
    ("too-many-sequences", npy(np.zeros((9, 1, 3))), NPY, "",
     BadRequest("", 413, "payload_too_large", ["inputs"])),
    ("unknown-query", npy(X), NPY, "?temperature=1",
     BadRequest("", 422, "invalid_input", ["temperature"])),
    ("bad-query-value", npy(X), NPY, "?return_state=maybe",
     BadRequest("", 422, "invalid_input", ["return_state"])),
    ("garbage-npz", b"PK\x03\x04 not a zip", NPZ, "", BadRequest("", 400, "invalid_body", [])),
    ("unknown-array", npz(inputs=X, weights=X), NPZ, "",
     BadRequest("", 422, "invalid_input", ["weights"])),
    ("no-inputs", npz(lengths=np.array([1])), NPZ, "",
     BadRequest("", 422, "invalid_input", ["inputs"])),
    ("length-beyond-T", npz(inputs=X, lengths=np.array([5, 6, 1])), NPZ, "",
     BadRequest("", 422, "invalid_input", ["lengths"])),
    ("h-without-c", npz(inputs=X, h=np.zeros((2, 3, 8))), NPZ, "",
     BadRequest("", 422, "invalid_input", ["state", "c"])),
    ("state-wrong-batch", npz(inputs=X, h=np.zeros((2, 2, 8)), c=np.zeros((2, 2, 8))), NPZ, "",
     BadRequest("", 422, "invalid_input", ["state", "h", 0])),
    ("zip-bomb", _bomb(), NPZ, "", BadRequest("", 413, "payload_too_large", [])),
    ("other-type", b"\x89PNG", "image/png", "", BadRequest("", 415, "unsupported_media_type", [])),
]  # fmt: skip


@pytest.mark.parametrize(("content", "media_type", "query", "case"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])  # fmt: skip
async def test_bad_binary_body(
    client: httpx.AsyncClient, content: bytes, media_type: str, query: str, case: BadRequest
) -> None:
    check_error(await post(client, content, media_type, query), case)


async def test_npz_members_are_bounded_before_they_are_read(client: httpx.AsyncClient) -> None:
    """A member whose header claims more than the member holds is refused unread."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("inputs.npy", claiming((3, 5, 10**9), bytes(720)))
    response = await post(client, out.getvalue(), NPZ)
    check_error(response, BadRequest("", 400, "invalid_body", []))


UNREADABLE: list[tuple[str, bytes, str]] = [
    ("negative-shape", files.header(shape=(-1, -1, 1)), NPY),
    ("zero-and-negative", files.header(shape=(0, -1, 1)), NPY),
    ("empty-but-huge", files.header(shape=(0, 2**62, 2**62)), NPY),
    ("void-0", files.header("|V0", (1, 1, 1)), NPY),
    ("nine-dimensions", files.header(shape=(1,) * 9), NPY),
    ("data-past-the-header's", npy(X) + b"\0" * 8, NPY),
    ("member-negative-shape", files.npz({"inputs.npy": files.header(shape=(-1, 2, 3))}), NPZ),
    ("member-structured", files.npz({"inputs.npy": files.header([("a", "<f8")])}), NPZ),
    ("bzip2-member", files.npz({"inputs.npy": npy(X)}, zipfile.ZIP_BZIP2), NPZ),
    ("lzma-member", files.npz({"inputs.npy": npy(X)}, zipfile.ZIP_LZMA), NPZ),
    ("declared-too-small", files.declaring(npz(True, inputs=X), file_size=100), NPZ),
    ("inputs-twice", files.npz({"inputs.npy": npy(X), "inputs": npy(X)}), NPZ),
]


@pytest.mark.parametrize(("content", "media_type"), [c[1:] for c in UNREADABLE],
                         ids=[c[0] for c in UNREADABLE])  # fmt: skip
async def test_unreadable_files_are_400(
    client: httpx.AsyncClient, content: bytes, media_type: str
) -> None:
    check_error(await post(client, content, media_type), BadRequest("", 400, "invalid_body", []))


async def test_the_bz2_bomb_is_refused_unopened(client: httpx.AsyncClient) -> None:
    response = await post(client, files.bomb(100_000_000), NPZ)
    check_error(response, BadRequest("", 400, "invalid_body", []))
    assert "inputs: compression method 12" in response.json()["error"]["message"]


async def test_too_many_members_are_413(client: httpx.AsyncClient) -> None:
    many = files.npz({f"inputs{i}.npy": b"" for i in range(65)})
    check_error(await post(client, many, NPZ), BadRequest("", 413, "payload_too_large", []))
