""".npy and .npz files as a client may send them, honest or not: headers that claim any shape
or dtype, archives with any compression and sizes that lie, and small archives that unpack into
hundreds of megabytes. For the reader's unit tests, the predict and upload tests, the fuzz suite
and the real-server test."""

from __future__ import annotations

import bz2
import io
import struct
import zipfile
import zlib
from typing import Any

import numpy as np

MAGIC = b"\x93NUMPY"
# In a central directory entry (after its b"PK\x01\x02"): where the method and sizes are.
_CD_METHOD, _CD_COMPRESSED, _CD_SIZE = 10, 20, 24


def npy(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, array, allow_pickle=False)
    return out.getvalue()


def header(
    descr: Any = "<f8",
    shape: Any = (1, 1, 3),
    fortran_order: Any = False,
    version: tuple[int, int] = (1, 0),
    text: str | None = None,
) -> bytes:
    """An .npy header with these fields as written (no check), or `text` as the dict."""
    literal = (
        text
        if text is not None
        else repr({"descr": descr, "fortran_order": fortran_order, "shape": shape})
    )
    raw = literal.encode() + b"\n"  # UTF-8: numpy's own writes only ASCII
    length = struct.pack("<H" if version == (1, 0) else "<I", len(raw))
    return MAGIC + bytes(version) + length + raw


def npz(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    """An archive of these members (names as given: "inputs.npy"), each compressed alike."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=compression) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return out.getvalue()


def savez(compress: bool = False, **arrays: np.ndarray) -> bytes:
    out = io.BytesIO()
    (np.savez_compressed if compress else np.savez)(out, **arrays)  # type: ignore[arg-type]
    return out.getvalue()


def declaring(
    archive: bytes,
    index: int = 0,
    *,
    file_size: int | None = None,
    compress_size: int | None = None,
    method: int | None = None,
) -> bytes:
    """`archive` whose directory says other things of its `index`th member than are true."""
    start = _entries(archive)[index]
    patched = bytearray(archive)
    for offset, value in ((_CD_SIZE, file_size), (_CD_COMPRESSED, compress_size)):
        if value is not None:
            struct.pack_into("<I", patched, start + offset, value)
    if method is not None:
        struct.pack_into("<H", patched, start + _CD_METHOD, method)
    return bytes(patched)


def _entries(archive: bytes) -> list[int]:
    """Where each central directory entry starts, from the end record's offset."""
    end = archive.rindex(b"PK\x05\x06")
    count, _, start = struct.unpack_from("<HII", archive, end + 10)
    positions = []
    for _ in range(count):
        positions.append(start)
        name, extra, comment = struct.unpack_from("<HHH", archive, start + 28)
        start += 46 + name + extra + comment
    return positions


def bomb(
    unpacked_bytes: int,
    method: int = zipfile.ZIP_BZIP2,
    shape: tuple[int, ...] | None = None,
    declared: int | None = None,
) -> bytes:
    """A small archive whose `inputs.npy` member, bzip2-compressed or deflated, unpacks into
    `unpacked_bytes` of float64 zeros, all of which its header claims unless `shape` says less,
    and its directory declares unless `declared` says less. bzip2 packs 300 MB into 460 bytes,
    deflate into about 300 KB."""
    count = unpacked_bytes // 8
    head = header("<f8", (1, 1, count) if shape is None else shape)
    compressor: Any = (
        bz2.BZ2Compressor(9)
        if method == zipfile.ZIP_BZIP2
        else zlib.compressobj(9, zlib.DEFLATED, -15)  # raw deflate, as zip stores it
    )
    parts, crc = [compressor.compress(head)], zlib.crc32(head)
    zeros = bytes(1 << 24)
    left = count * 8
    while left:
        step = min(left, len(zeros))
        parts.append(compressor.compress(zeros[:step]))
        crc = zlib.crc32(zeros[:step], crc)
        left -= step
    parts.append(compressor.flush())
    size = len(head) + count * 8 if declared is None else declared
    return _one_member("inputs.npy", b"".join(parts), size, crc, method)


def _one_member(name: str, compressed: bytes, size: int, crc: int, method: int) -> bytes:
    """A zip archive of one member whose data was compressed elsewhere: zipfile would hold
    all of the uncompressed data in memory to write it."""
    info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
    info.compress_type = method
    info.compress_size, info.file_size, info.CRC = len(compressed), size, crc
    out = io.BytesIO()
    local = info.FileHeader(zip64=False)
    out.write(local + compressed)
    central = struct.pack(
        "<4s4B4HL2L5H2L",
        b"PK\x01\x02", 20, 3, 46, 0, 0, method, 0, 0x21, crc, len(compressed), size,
        len(name), 0, 0, 0, 0, 0, 0,
    )  # fmt: skip
    directory = central + name.encode()
    end = struct.pack(
        "<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(directory), len(local) + len(compressed), 0
    )
    return out.getvalue() + directory + end
