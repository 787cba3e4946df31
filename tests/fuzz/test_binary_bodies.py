""".npy and .npz bodies, to /v1/predict and to /v1/datasets: headers with any shape, dtype and
order, data cut short or running on, archives with any compression, sizes that lie and bytes
that were flipped. Valid files get a 200 (a 201 for an upload)."""

from __future__ import annotations

import re
import zipfile
from typing import Any

import httpx
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support import npy_files as files
from tests.support.checkpoints import SMALL_CONFIG as MODEL
from tests.support.fuzzing import AUTH, FUZZ, check_answer

pytestmark = pytest.mark.anyio

NPY, NPZ = "application/x-npy", "application/x-npz"
TYPE_STRING = re.compile(r"[<>|=]?[fiucbV][0-9]{0,2}")  # a dtype numpy can size, without warnings
FEATURES, LAYERS, HIDDEN = MODEL.input_size, MODEL.num_layers, MODEL.hidden_size

# float32's range, finite: what a valid body holds.
numbers = st.floats(-1e6, 1e6, allow_nan=False, width=32)
float_types = st.sampled_from(["<f4", ">f4", "<f8", ">f8"])

# What np.save writes for numbers, and for everything else.
TYPE_STRINGS = [
    "<f8",
    "<f4",
    ">f8",
    "<i8",
    "|u1",
    "<f2",
    "<f16",
    "|V0",
    "|V8",
    "|O",
    "<U3",
    "<c16",
    "|b1",
    "<M8[s]",
    "(2,)<f8",
    "f8,f8",
]
descrs = st.one_of(
    st.sampled_from(TYPE_STRINGS),
    st.text(max_size=12),
    st.integers(),
    st.lists(st.tuples(st.text(max_size=3), st.sampled_from(["<f8", "<i4", "|V0"])), max_size=3),
)
dimensions = st.one_of(st.integers(0, 6), st.integers(-3, 2**70))
shapes = st.one_of(
    st.lists(st.integers(0, 6), min_size=3, max_size=3).map(tuple),
    st.lists(dimensions, max_size=10).map(tuple),
    st.lists(st.one_of(st.booleans(), st.floats(), st.none(), st.text(max_size=2)), max_size=3),
    st.integers(),
)
orders = st.one_of(st.booleans(), st.integers(0, 1), st.none())
versions = st.sampled_from([(1, 0), (2, 0), (3, 0), (0, 9)])
queries = st.sampled_from(
    ["", "?return_state=true", "?return_sequence=1&return_state=0", "?return_state=maybe",
     "?temperature=1", "?session_id=a%20b", "?model_version=999"]
)  # fmt: skip


def _data_bytes(descr: Any, shape: Any) -> int | None:
    """The length of the data a header describes, when it is small enough to send."""
    if not isinstance(descr, str) or not TYPE_STRING.fullmatch(descr):
        return None
    try:
        size = int(np.prod(shape, dtype=object)) * np.dtype(descr).itemsize
    except (TypeError, ValueError):  # not a shape, or not a dtype: no honest length
        return None
    return size if 0 <= size <= 4096 else None


@st.composite
def any_npy(draw: st.DrawFn) -> bytes:
    """A header of any fields, or of any text, and data of the honest length, cut short,
    running on, or of any bytes."""
    if draw(st.integers(0, 9)) == 0:
        return files.MAGIC + draw(st.binary(max_size=64))
    descr, shape = draw(descrs), draw(shapes)
    text = draw(st.none() | st.text(max_size=80)) if draw(st.integers(0, 9)) == 0 else None
    head = files.header(descr, shape, draw(orders), draw(versions), text)
    honest = _data_bytes(descr, shape)
    if honest is None:
        return head + draw(st.binary(max_size=512))
    delta = draw(st.sampled_from([0, 0, 0, -1, 1, -8, 8]))
    return head + bytes(max(honest + delta, 0))


@st.composite
def valid_inputs(draw: st.DrawFn, batch: int | None = None) -> np.ndarray:
    """(B, T, input_size) floats of any float type and byte order, C or Fortran order."""
    batch = batch if batch is not None else draw(st.integers(1, 4))
    steps = draw(st.integers(1, 6))
    values = draw(st.lists(numbers, min_size=batch * steps * FEATURES,
                           max_size=batch * steps * FEATURES))  # fmt: skip
    array = np.array(values, dtype=draw(float_types)).reshape(batch, steps, FEATURES)
    return np.asfortranarray(array) if draw(st.booleans()) else array


@st.composite
def valid_npz(draw: st.DrawFn) -> bytes:
    inputs = draw(valid_inputs())
    batch, steps = inputs.shape[:2]
    arrays = {"inputs": inputs}
    if draw(st.booleans()):
        lengths = draw(st.lists(st.integers(1, steps), min_size=batch, max_size=batch))
        arrays["lengths"] = np.array(lengths, dtype=draw(st.sampled_from(["<i8", "<i4", "|u1"])))
    if draw(st.booleans()):
        size = LAYERS * batch * HIDDEN
        for name in ("h", "c"):
            state = draw(st.lists(numbers, min_size=size, max_size=size))
            arrays[name] = np.array(state, dtype=draw(float_types)).reshape(LAYERS, batch, HIDDEN)
    return files.savez(draw(st.booleans()), **arrays)


member_names = st.sampled_from(
    ["inputs.npy", "lengths.npy", "h.npy", "c.npy", "inputs", "targets.npy", "other.npy", "d/"]
)
compressions = st.sampled_from(
    [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]
)
sizes = st.one_of(st.integers(0, 4096), st.integers(0, 2**32 - 1))


@st.composite
def any_npz(draw: st.DrawFn) -> bytes:
    """Members of any .npy (honest or not), compressed any way, whose directory may lie about
    sizes and method, with bytes flipped or the archive cut short."""
    names = draw(st.lists(member_names, max_size=4, unique=True))
    members = {name: draw(st.one_of(any_npy(), valid_inputs().map(files.npy))) for name in names}
    archive = files.npz(members, draw(compressions))
    if members and draw(st.booleans()):
        lies = {
            "file_size": draw(st.none() | sizes),
            "compress_size": draw(st.none() | sizes),
            "method": draw(st.none() | st.sampled_from([0, 8, 12, 14, 93, 99])),
        }
        archive = files.declaring(archive, draw(st.integers(0, len(members) - 1)), **lies)
    if draw(st.integers(0, 4)) == 0:
        flipped = bytearray(archive)
        for position, value in draw(
            st.lists(st.tuples(st.integers(0, len(archive) - 1), st.integers(0, 255)), max_size=4)
        ):
            flipped[position] = value
        archive = bytes(flipped)
    if draw(st.integers(0, 9)) == 0:
        archive = archive[: draw(st.integers(0, len(archive)))]
    return archive


async def predict(client: httpx.AsyncClient, body: bytes, media_type: str, query: str = "") -> Any:
    return await client.post(
        f"/v1/predict{query}", content=body, headers={"content-type": media_type}
    )


@FUZZ
@given(array=valid_inputs())
async def test_a_valid_npy_body_gets_200(fuzz_client: httpx.AsyncClient, array: np.ndarray) -> None:
    response = await predict(fuzz_client, files.npy(array), NPY, "?return_state=true")
    check_answer(response, valid=True)
    assert len(response.json()["predictions"]) == array.shape[0]


@FUZZ
@given(body=valid_npz())
async def test_a_valid_npz_body_gets_200(fuzz_client: httpx.AsyncClient, body: bytes) -> None:
    check_answer(await predict(fuzz_client, body, NPZ), valid=True)


@FUZZ
@given(body=any_npy(), query=queries)
async def test_any_npy_body_gets_an_answer(
    fuzz_client: httpx.AsyncClient, body: bytes, query: str
) -> None:
    check_answer(await predict(fuzz_client, body, NPY, query))


@FUZZ
@given(body=st.one_of(any_npz(), valid_npz()), query=queries)
async def test_any_npz_body_gets_an_answer(
    fuzz_client: httpx.AsyncClient, body: bytes, query: str
) -> None:
    check_answer(await predict(fuzz_client, body, NPZ, query))


@st.composite
def valid_upload(draw: st.DrawFn) -> bytes:
    """A training data set: (N, T, F) inputs and (N,) or (N, outputs) targets."""
    inputs = draw(valid_inputs())
    outputs = draw(st.sampled_from([(), (1,), (2,)]))
    size = inputs.shape[0] * (outputs[0] if outputs else 1)
    values = draw(st.lists(numbers, min_size=size, max_size=size))
    targets = np.array(values).reshape(inputs.shape[0], *outputs)
    return files.savez(draw(st.booleans()), inputs=inputs, targets=targets)


@FUZZ
@given(body=st.one_of(any_npz(), valid_upload()))
async def test_any_npz_upload_gets_an_answer(fuzz_client: httpx.AsyncClient, body: bytes) -> None:
    """The data set upload reads .npz files as predict does, with its own budget."""
    headers = {**AUTH, "content-type": NPZ}
    check_answer(await fuzz_client.post("/v1/datasets", content=body, headers=headers))
