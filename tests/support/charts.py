"""Reading the loss charts back: the SVG's root, the vertices of a line by its id, the strings
drawn; the PNG signature."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

SVG = "{http://www.w3.org/2000/svg}"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def svg_root(image: bytes) -> ET.Element:
    root = ET.fromstring(image)
    assert root.tag == f"{SVG}svg"
    return root


def line_points(root: ET.Element, gid: str) -> int | None:
    """The vertices of the line with this id (its path's move-to and line-to commands); None
    when there is no such line."""
    group = root.find(f".//{SVG}g[@id='{gid}']")
    if group is None:
        return None
    path = group.find(f"{SVG}path")
    assert path is not None
    return len(re.findall(r"[ML]", path.attrib["d"]))


def texts(image: bytes) -> set[bytes]:
    """The strings on an SVG chart: matplotlib draws text as paths, each under a comment that
    names it."""
    return set(re.findall(rb"<!-- (.*?) -->", image))
