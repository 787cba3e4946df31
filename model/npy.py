"""Reading .npy and .npz files that someone else wrote, at a cost bounded before the work: the
server's predict bodies and data set uploads, and the same files when a job reads them.

Nothing a file declares is believed. A header is parsed as a literal, never unpickled, and
checked before use: at most MAX_DIMENSIONS non-negative dimensions, a plain number dtype
(float32, float64 or an integer type), a byte count computed with Python integers, data exactly
as long as the header says. An archive's members must be stored or deflated (zipfile inflates
bzip2 and LZMA without a bound), are read in CHUNK_BYTES pieces, and every byte actually read,
not the size the archive declares, is taken from one `Budget`, as is every number.

Errors: `UnreadableFile` for what is not a readable array (the service answers 400),
`DataTooLarge` past the budget (413), `InvalidInput` for an array the caller did not ask for."""

from __future__ import annotations

import ast
import io
import math
import re
import struct
import zipfile
import zlib
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NamedTuple

import numpy as np

from model.errors import DataTooLarge, InvalidInput, UnreadableFile

MAX_DIMENSIONS = 8  # the LSTM's arrays have at most 3
MAX_MEMBERS = 64  # arrays in one archive; zipfile builds an object for every one it lists
MAX_HEADER_BYTES = 10_000  # numpy's own bound on a header it parses
CHUNK_BYTES = 1 << 20  # the most decompressed in one step, so the most read past a budget

_MAGIC = b"\x93NUMPY"
_LENGTH_BYTES = {(1, 0): 2, (2, 0): 4}  # the header length's size, by format version
_KEYS = {"descr", "fortran_order", "shape"}
_NUMBERS = frozenset(
    np.dtype(code) for code in ("f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8")
)
_TYPE_STRING = re.compile(r"[<>|=]?[fiu][0-9]{1,2}")  # byte order, kind, item size
_COMPRESSIONS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)  # what np.savez(_compressed) writes
_CENTRAL_ENTRY = b"PK\x01\x02"  # starts each member's entry in the archive's directory
# What zipfile and zlib raise on a broken archive or member (RuntimeError: encrypted).
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    struct.error,
    OSError,
    EOFError,
    ValueError,
    OverflowError,
    RuntimeError,
    NotImplementedError,
)


@dataclass
class Budget:
    """What one file may unpack into, over all its arrays: bytes as they are read (headers and
    data) and numbers (array elements). None: no bound, for a file the caller trusts."""

    max_bytes: int | None = None
    max_values: int | None = None
    bytes_read: int = 0
    values: int = 0

    def check_bytes(self, count: int, name: str) -> None:
        """Before reading `count` more bytes that a header announces."""
        if self.max_bytes is not None and self.bytes_read + count > self.max_bytes:
            raise DataTooLarge(
                f"{name}: its header announces {count} bytes; the arrays may unpack into at "
                f"most {self.max_bytes}"
            )

    def take_bytes(self, count: int) -> None:
        self.bytes_read += count
        if self.max_bytes is not None and self.bytes_read > self.max_bytes:
            raise DataTooLarge(f"the arrays unpack past the limit of {self.max_bytes} bytes")

    def take_values(self, count: int, name: str) -> None:
        self.values += count
        if self.max_values is not None and self.values > self.max_values:
            raise DataTooLarge(
                f"the arrays hold {self.values} numbers up to {name}; at most {self.max_values}"
            )


class Npz(NamedTuple):
    arrays: dict[str, np.ndarray]  # the arrays asked for that the archive has, by name
    names: list[str]  # every array in the archive, in its order


class _Counted:
    """A stream whose every byte read is taken from the budget."""

    def __init__(self, stream: IO[bytes], budget: Budget, name: str) -> None:
        self.stream, self.budget, self.name = stream, budget, name
        self.count = 0

    def read(self, size: int, what: str) -> bytearray:
        """Exactly `size` bytes, read in chunks, so an allocation follows what arrived."""
        data = bytearray()
        while len(data) < size:
            chunk = self.stream.read(min(CHUNK_BYTES, size - len(data)))
            if not chunk:
                raise UnreadableFile(f"{self.name}: the file ends inside its {what}")
            self.budget.take_bytes(len(chunk))
            self.count += len(chunk)
            data += chunk
        return data

    def at_end(self) -> bool:
        extra = self.stream.read(1)
        self.budget.take_bytes(len(extra))
        return not extra


def read_npy(stream: IO[bytes], size: int, budget: Budget, name: str) -> np.ndarray:
    """One .npy file of at most `size` bytes (its length, or what an archive declares: that is
    only ever believed to refuse), its header checked before its data is read."""
    reader = _Counted(stream, budget, name)
    shape, fortran_order, dtype = _header(reader)
    # Each element takes a byte at least, so no array the file holds has a larger shape, even
    # with its zero dimensions taken as one (numpy cannot even describe some empty ones).
    if math.prod(max(dimension, 1) for dimension in shape) > size:
        raise UnreadableFile(f"{name}: shape {_text(shape)} is larger than the file's {size} bytes")
    count = math.prod(shape)  # Python ints: a huge shape cannot wrap around
    nbytes = count * dtype.itemsize
    if nbytes > size - reader.count:
        raise UnreadableFile(
            f"{name}: the data is shorter than its header's shape {list(shape)} of {dtype} says"
        )
    budget.check_bytes(nbytes, name)
    budget.take_values(count, name)
    data = reader.read(nbytes, "data")
    if not reader.at_end():
        raise UnreadableFile(f"{name}: bytes follow the data of shape {list(shape)} of {dtype}")
    return np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran_order else "C")


@dataclass(frozen=True)
class NpyLayout:
    """Where an .npy file on disk keeps its array: what np.memmap needs to map it."""

    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    offset: int  # bytes of magic and header before the data


def npy_layout(path: Path) -> NpyLayout:
    """The header of an .npy file on disk, checked as `read_npy` checks one, without reading the
    data: the file must be exactly as long as its header says, in C order (a series is read by
    rows, so a Fortran-order file would read every column for one row)."""
    name = path.name
    size = path.stat().st_size
    with path.open("rb") as stream:
        reader = _Counted(stream, Budget(), name)
        shape, fortran_order, dtype = _header(reader)
    if fortran_order and len(shape) > 1:
        raise UnreadableFile(
            f"{name}: the array is in Fortran order; save it in C order "
            "(np.save(path, np.ascontiguousarray(array)))"
        )
    nbytes = math.prod(shape) * dtype.itemsize  # Python ints: no wrap-around
    if reader.count + nbytes != size:
        raise UnreadableFile(
            f"{name}: {size} bytes, but its header's shape {_text(shape)} of {dtype} needs "
            f"{reader.count + nbytes}"
        )
    return NpyLayout(shape, dtype, reader.count)


def read_npz(
    file: bytes | Path, budget: Budget, wanted: Collection[str], *, others: bool = True
) -> Npz:
    """The arrays named in `wanted` (as `np.savez` names them: "inputs" for "inputs.npy"); an
    array of another name is left unread, or, without `others`, refused (InvalidInput)."""
    with _opened(file) as stream:
        archive = _archive(stream)
        members = _members(archive)
        if not others:
            for name in members:
                if name not in wanted:
                    expected = ", ".join(wanted)
                    raise InvalidInput(f"unknown array {name!r}; expected {expected}", (name,))
        arrays = {}
        for name, member in members.items():
            if name in wanted:
                arrays[name] = _read_member(archive, member, name, budget)
    return Npz(arrays, list(members))


@contextmanager
def _opened(file: bytes | Path) -> Iterator[IO[bytes]]:
    if isinstance(file, bytes):
        yield io.BytesIO(file)
        return
    try:
        stream = file.open("rb")
    except OSError as exc:
        raise UnreadableFile(f"cannot open the file: {exc.strerror}") from exc
    with stream:
        yield stream


def _archive(stream: IO[bytes]) -> zipfile.ZipFile:
    if _entries(stream) > MAX_MEMBERS:
        raise DataTooLarge(f"an .npz archive may hold at most {MAX_MEMBERS} arrays")
    try:
        return zipfile.ZipFile(stream)
    except _ZIP_ERRORS as exc:
        raise UnreadableFile(f"not an .npz archive: {exc}") from exc


def _entries(stream: IO[bytes]) -> int:
    """At least the number of members zipfile will list, since it refuses an entry that does
    not start with the signature counted here; counted before it builds any."""
    count, tail = 0, b""
    while chunk := stream.read(CHUNK_BYTES):
        window = tail + chunk
        count += window.count(_CENTRAL_ENTRY)
        tail = window[1 - len(_CENTRAL_ENTRY) :]  # too short to hold a signature counted twice
    stream.seek(0)
    return count


def _members(archive: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """The members by array name, each checked for what it would cost to open."""
    members: dict[str, zipfile.ZipInfo] = {}
    for member in archive.infolist():
        name = member.filename.removesuffix(".npy")
        if name in members:
            raise UnreadableFile(f"the archive holds {name!r} twice")
        if member.flag_bits & 0x1:
            raise UnreadableFile(f"{name}: the member is encrypted")
        if member.compress_type not in _COMPRESSIONS:
            raise UnreadableFile(
                f"{name}: compression method {member.compress_type} is not read; store or "
                "deflate the arrays (np.savez, np.savez_compressed)"
            )
        members[name] = member
    return members


def _read_member(
    archive: zipfile.ZipFile, member: zipfile.ZipInfo, name: str, budget: Budget
) -> np.ndarray:
    try:
        with archive.open(member) as stream:
            return read_npy(stream, member.file_size, budget, name)
    except _ZIP_ERRORS as exc:  # a bad checksum or deflate stream, a lying local header
        raise UnreadableFile(f"{name}: {exc}") from exc


def _header(reader: _Counted) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    """(shape, fortran_order, dtype), each checked."""
    name = reader.name
    start = reader.read(len(_MAGIC) + 2, "header")
    version = (start[-2], start[-1])
    if start[:-2] != _MAGIC or version not in _LENGTH_BYTES:
        raise UnreadableFile(f"{name}: not an .npy array (of format version 1.0 or 2.0)")
    length = int.from_bytes(reader.read(_LENGTH_BYTES[version], "header"), "little")
    if length > MAX_HEADER_BYTES:
        raise UnreadableFile(f"{name}: a header of {length} bytes; at most {MAX_HEADER_BYTES}")
    fields = _literal(bytes(reader.read(length, "header")).decode("latin-1"), name)
    if not isinstance(fields["fortran_order"], bool):
        raise UnreadableFile(f"{name}: fortran_order must be True or False")
    return _shape(fields["shape"], name), fields["fortran_order"], _dtype(fields["descr"], name)


def _literal(text: str, name: str) -> dict[str, Any]:
    try:
        fields = ast.literal_eval(text)  # literals only: no names, calls or operators
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as exc:
        raise UnreadableFile(f"{name}: the header is not a Python literal") from exc
    if not isinstance(fields, dict) or set(fields) != _KEYS:
        raise UnreadableFile(f"{name}: the header must be a dict of {', '.join(sorted(_KEYS))}")
    return fields


def _shape(shape: object, name: str) -> tuple[int, ...]:
    # bool is an int subclass: (True, 3) is no shape.
    if not isinstance(shape, tuple) or not all(type(size) is int for size in shape):
        raise UnreadableFile(f"{name}: the shape must be a tuple of integers")
    if len(shape) > MAX_DIMENSIONS:
        raise UnreadableFile(f"{name}: {len(shape)} dimensions; at most {MAX_DIMENSIONS}")
    if any(size < 0 for size in shape):
        raise UnreadableFile(f"{name}: shape {_text(shape)} has a negative dimension")
    return shape


def _dtype(descr: object, name: str) -> np.dtype[Any]:
    """A plain number type: no objects (pickles), records, strings or empty voids. Only the
    type strings np.save writes for numbers reach numpy's parser."""
    if not isinstance(descr, str) or not _TYPE_STRING.fullmatch(descr):
        raise UnreadableFile(
            f"{name}: the dtype must be float32, float64 or an integer type, as np.save "
            "writes it ('<f4', '<f8', '<i8', ...)"
        )
    try:
        dtype = np.dtype(descr)
    except TypeError as exc:  # '<i3', say
        raise UnreadableFile(f"{name}: {descr!r} is not a dtype") from exc
    if dtype.newbyteorder("=") not in _NUMBERS:
        raise UnreadableFile(
            f"{name}: dtype {dtype} is not read; use float32, float64 or an integer type"
        )
    return dtype


def _text(shape: tuple[int, ...]) -> str:
    """A shape for a message: a hostile one may hold numbers of thousands of digits."""
    text = str(list(shape))
    return text if len(text) <= 80 else f"{text[:77]}..."
