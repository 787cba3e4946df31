"""The safe .npy/.npz reader: what np.save and np.savez write reads back as it was; every header is
checked before use; an archive unpacks only stored or deflated members, never past its budget,
whatever sizes it declares."""

from __future__ import annotations

import io
import time
import tracemalloc
import zipfile
from typing import Any

import numpy as np
import pytest

from model import npy
from model.data import load_npz
from model.errors import DataTooLarge, InvalidInput, UnreadableFile
from tests.support.npy_files import bomb, declaring, header, npz, savez
from tests.support.npy_files import npy as npy_bytes

RNG = np.random.default_rng(7)
X = RNG.normal(size=(3, 4, 2))
MiB = 1 << 20


def read(content: bytes, max_bytes: int | None = None) -> np.ndarray:
    return npy.read_npy(io.BytesIO(content), len(content), npy.Budget(max_bytes), "x")


@pytest.mark.parametrize(
    "array",
    [
        X,
        X.astype(np.float32),
        X.astype(">f8"),
        np.asfortranarray(X),
        np.arange(5, dtype=np.int32),
        np.arange(6, dtype=np.uint8).reshape(2, 3),
        np.zeros((0, 5, 3)),
        np.float64(2.5),
    ],
    ids=["float64", "float32", "big-endian", "fortran", "int32", "uint8", "empty", "scalar"],
)
def test_what_np_save_writes_reads_back(array: np.ndarray) -> None:
    got = read(npy_bytes(array))
    assert got.dtype == array.dtype and got.shape == array.shape
    np.testing.assert_array_equal(got, array)


@pytest.mark.parametrize("compress", [False, True])
def test_what_np_savez_writes_reads_back(compress: bool) -> None:
    lengths = np.array([4, 2, 1])
    found = npy.read_npz(savez(compress, inputs=X, lengths=lengths), npy.Budget(MiB), ("inputs",))
    assert found.names == ["inputs", "lengths"]
    assert list(found.arrays) == ["inputs"]  # the other one is listed, not read
    np.testing.assert_array_equal(found.arrays["inputs"], X)


def test_a_version_2_header_reads() -> None:
    data = np.arange(3.0).tobytes()
    np.testing.assert_array_equal(read(header("<f8", (3,), version=(2, 0)) + data), [0, 1, 2])


BAD_HEADERS: list[tuple[str, bytes]] = [
    ("not-npy", b"PK\x03\x04 a zip, say"),
    ("empty", b""),
    ("version-3", header(version=(3, 0))),
    ("header-cut", header()[:20]),
    ("header-too-long", header(text="{" + " " * 20_000 + "}")),
    ("not-a-literal", header(text="{'descr': __import__('os'), 'shape': (), 'fortran_order': 0}")),
    ("not-a-dict", header(text="[1, 2, 3]")),
    ("missing-key", header(text="{'descr': '<f8', 'shape': (1,)}")),
    ("extra-key", header(text="{'descr': '<f8', 'shape': (1,), 'fortran_order': False, 'x': 1}")),
    ("nested-deep", header(text="(" * 500 + ")" * 500)),
    ("huge-integer", header(text="{'descr': '<f8', 'fortran_order': False, 'shape': (1" +
                              "0" * 5000 + ",)}")),
    ("shape-not-tuple", header(shape=[1, 3])),
    ("shape-of-floats", header(shape=(1.0, 3))),
    ("shape-of-booleans", header(shape=(True, True))),
    ("all-negative", header(shape=(-1, -1, 1))),
    ("zero-and-negative", header(shape=(0, -1, 1))),
    ("nine-dimensions", header(shape=(1,) * 9)),
    ("empty-but-huge", header(shape=(0, 10**30, 10**30))),
    ("huge", header(shape=(2**40, 2**40, 3)) + bytes(64)),
    ("void-0", header("|V0", (1, 1, 1))),
    ("void", header("|V8", (1, 1, 1)) + bytes(8)),
    ("object", header("|O", (1,)) + bytes(8)),
    ("structured", header([("a", "<f8")], (1,)) + bytes(8)),
    ("subarray", header("(2,)<f8", (1,)) + bytes(16)),
    ("string", header("<U2", (1,)) + bytes(8)),
    ("complex", header("<c16", (1,)) + bytes(16)),
    ("float16", header("<f2", (1,)) + bytes(2)),
    ("long-double", header("<f16", (1,)) + bytes(16)),
    ("boolean", header("|b1", (1,)) + bytes(1)),
    ("datetime", header("<M8[s]", (1,)) + bytes(8)),
    ("not-a-dtype", header("<q9", (1,)) + bytes(8)),
    ("dtype-not-a-string", header(8, (1,)) + bytes(8)),
    ("fortran-order-not-bool", header(fortran_order=1) + bytes(24)),
    ("data-short", header(shape=(1, 1, 3)) + bytes(23)),
    ("data-long", header(shape=(1, 1, 3)) + bytes(25)),
]  # fmt: skip


@pytest.mark.parametrize("content", [c for _, c in BAD_HEADERS], ids=[i for i, _ in BAD_HEADERS])
def test_a_bad_header_or_length_is_unreadable(content: bytes) -> None:
    with pytest.raises(UnreadableFile, match=r"^x: "):
        read(content, max_bytes=MiB)


def test_a_header_announcing_more_than_the_budget_is_refused_before_its_data() -> None:
    content = npy_bytes(np.zeros((4, 100, 3)))
    budget = npy.Budget(max_bytes=9000)
    stream = io.BytesIO(content)
    with pytest.raises(DataTooLarge, match="announces 9600 bytes"):
        npy.read_npy(stream, len(content), budget, "x")
    assert budget.bytes_read < 200  # the header only


def test_numbers_are_counted_against_the_budget_over_all_arrays() -> None:
    content = savez(inputs=np.zeros((10, 2, 3)), targets=np.zeros((10, 1)))
    npy.read_npz(content, npy.Budget(max_values=70), ("inputs", "targets"))
    with pytest.raises(DataTooLarge, match="70 numbers up to targets; at most 69"):
        npy.read_npz(content, npy.Budget(max_values=69), ("inputs", "targets"))


def test_bytes_are_counted_over_all_members() -> None:
    content = savez(compress=True, inputs=np.zeros(1000), lengths=np.zeros(1000))
    with pytest.raises(DataTooLarge):
        npy.read_npz(content, npy.Budget(max_bytes=12_000), ("inputs", "lengths"))


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA, 99])
def test_only_stored_and_deflated_members_are_opened(method: int) -> None:
    content = npz({"inputs.npy": npy_bytes(X)}, zipfile.ZIP_STORED)
    with pytest.raises(UnreadableFile, match=r"^inputs: compression method"):
        npy.read_npz(declaring(content, method=method), npy.Budget(MiB), ("inputs",))


def test_a_456_byte_bomb_is_refused_unopened() -> None:
    """zipfile inflates a bzip2 member in one step: these 456 bytes, whose header and directory
    claim 3 numbers, would take 300 MB."""
    archive = bomb(300_000_000, shape=(1, 1, 3), declared=len(header(shape=(1, 1, 3))) + 24)
    assert len(archive) < 500
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(UnreadableFile, match="compression method 12"):
            npy.read_npz(archive, npy.Budget(64 * 1024), ("inputs",))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MiB and time.perf_counter() - started < 0.5


def test_a_deflated_member_larger_than_its_header_says_is_read_no_further() -> None:
    """The header claims 3 numbers, the archive declares 64 MB, the member unpacks into 64 MB:
    four bytes past the 24 announced, reading stops."""
    content = header(shape=(1, 1, 3)) + bytes(64 * MiB)
    archive = npz({"inputs.npy": content}, zipfile.ZIP_DEFLATED)
    assert len(archive) < 100_000
    tracemalloc.start()
    try:
        with pytest.raises(UnreadableFile, match="bytes follow the data"):
            npy.read_npz(archive, npy.Budget(MiB), ("inputs",))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * MiB


def test_declared_sizes_are_never_believed() -> None:
    archive = npz({"inputs.npy": npy_bytes(X)}, zipfile.ZIP_DEFLATED)
    real = len(npy_bytes(X))
    # Declared smaller: zipfile stops there, so the data is cut short.
    with pytest.raises(UnreadableFile, match=r"^inputs: "):
        npy.read_npz(declaring(archive, file_size=real - 8), npy.Budget(MiB), ("inputs",))
    # Declared larger: the data is read as it is, and the checksum still checked.
    found = npy.read_npz(declaring(archive, file_size=10 * real), npy.Budget(MiB), ("inputs",))
    np.testing.assert_array_equal(found.arrays["inputs"], X)
    # Declared far past the budget: what is counted is what was read.
    lying = declaring(archive, file_size=2**32 - 2, compress_size=2**32 - 2)
    budget = npy.Budget(MiB)
    np.testing.assert_array_equal(npy.read_npz(lying, budget, ("inputs",)).arrays["inputs"], X)
    assert budget.bytes_read == real


def test_a_corrupt_member_is_unreadable() -> None:
    archive = bytearray(npz({"inputs.npy": npy_bytes(X)}, zipfile.ZIP_DEFLATED))
    archive[60:70] = bytes(10)  # inside the deflate stream
    with pytest.raises(UnreadableFile, match=r"^inputs: "):
        npy.read_npz(bytes(archive), npy.Budget(MiB), ("inputs",))


@pytest.mark.parametrize(
    ("archive", "error", "match"),
    [
        (b"PK\x03\x04 not a zip", UnreadableFile, "not an .npz archive"),
        (npz({f"a{i}.npy": b"" for i in range(65)}), DataTooLarge, "at most 64 arrays"),
        (npz({"inputs.npy": npy_bytes(X), "inputs": npy_bytes(X)}), UnreadableFile, "twice"),
    ],
    ids=["not-a-zip", "too-many-members", "duplicate"],
)
def test_bad_archives(archive: bytes, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        npy.read_npz(archive, npy.Budget(MiB), ("inputs",))


def test_an_encrypted_member_is_unreadable() -> None:
    archive = npz({"inputs.npy": npy_bytes(X)})
    start = archive.index(b"PK\x01\x02")
    patched = bytearray(archive)
    patched[start + 8] |= 0x1  # the directory's "encrypted" flag
    with pytest.raises(UnreadableFile, match="encrypted"):
        npy.read_npz(bytes(patched), npy.Budget(MiB), ("inputs",))


def test_other_arrays_are_refused_when_asked_and_never_read() -> None:
    archive = npz({"inputs.npy": npy_bytes(X), "weights.npy": b"garbage"})
    with pytest.raises(InvalidInput, match="unknown array 'weights'") as info:
        npy.read_npz(archive, npy.Budget(MiB), ("inputs",), others=False)
    assert info.value.location == ("weights",) and not isinstance(info.value, UnreadableFile)
    assert npy.read_npz(archive, npy.Budget(MiB), ("inputs",)).names == ["inputs", "weights"]


def test_load_npz_reads_within_its_budget(tmp_path: Any) -> None:
    path = tmp_path / "data.npz"
    path.write_bytes(savez(compress=True, inputs=np.ones((50, 4, 3)), targets=np.ones(50)))
    assert load_npz(path, npy.Budget(max_bytes=MiB, max_values=650)).summary()["n"] == 50
    with pytest.raises(DataTooLarge):
        load_npz(path, npy.Budget(max_bytes=MiB, max_values=649))
    with pytest.raises(DataTooLarge):
        load_npz(path, npy.Budget(max_bytes=4000))
    path.write_bytes(header("|V0") + b"")
    with pytest.raises(UnreadableFile, match=r"cannot read as \.npz") as info:
        load_npz(path)
    assert info.value.location == ("path",)
