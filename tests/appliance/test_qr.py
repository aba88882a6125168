"""QR rendering: structure and size, not decoding (no zbar dependency on purpose)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from classroom_box.appliance.qr import svg_qr, terminal_qr

URL = "http://192.168.1.20:8080/join/K7Q2XM"


def _modules(url: str) -> int:
    """Side of the QR symbol in modules, from the ascii rendering (2 chars per module)."""
    lines = terminal_qr(url, ascii_only=True).splitlines()
    return len(lines) - 4  # border of 2 on each side


def test_terminal_qr_is_square_half_blocks() -> None:
    text = terminal_qr(URL)
    assert text.endswith("\n")
    lines = text.splitlines()
    width = len(lines[0])
    assert all(len(line) == width for line in lines)
    assert set("".join(lines)) <= {"\u2588", "\u2580", "\u2584", " "}
    side = _modules(URL) + 4
    assert width == side
    assert len(lines) == (side + 1) // 2  # two module rows per text line
    # Version 1..40 symbols are 21..177 modules, in steps of 4.
    assert (side - 4 - 21) % 4 == 0 and side - 4 >= 21


def test_terminal_qr_finder_pattern_and_inversion() -> None:
    ascii_dark_bg = terminal_qr(URL, ascii_only=True).splitlines()
    ascii_light_bg = terminal_qr(URL, ascii_only=True, invert=False).splitlines()
    assert len(ascii_dark_bg) == len(ascii_light_bg)
    for a, b in zip(ascii_dark_bg, ascii_light_bg, strict=True):
        assert all((x == "#") != (y == "#") for x, y in zip(a, b, strict=True))
    # Top-left finder: after the 2-module quiet zone, 7 dark modules in a row. On a light-on-dark
    # terminal (default) the dark modules are the unpainted ones.
    row = ascii_light_bg[2]
    assert row[4:18] == "#" * 14 and row[18:20] == "  "
    assert ascii_dark_bg[2][4:18] == " " * 14
    assert ascii_dark_bg[0] == "#" * len(ascii_dark_bg[0])  # painted quiet zone


def test_terminal_qr_grows_with_data_and_differs() -> None:
    assert terminal_qr(URL) != terminal_qr(URL.replace("K7Q2XM", "K7Q2XN"))
    assert _modules("http://x/") == 21
    assert _modules("http://10.0.0.1:8080/join/" + "A" * 120) > 21


def test_svg_qr_is_standalone_svg() -> None:
    data = svg_qr(URL)
    assert isinstance(data, bytes)
    root = ET.fromstring(data)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    side = _modules(URL) + 8  # the SVG keeps the standard 4-module quiet zone
    assert root.get("viewBox") == f"0 0 {side} {side}"
    paths = root.findall("{http://www.w3.org/2000/svg}path")
    assert len(paths) == 1 and len(paths[0].get("d", "")) > 100
    # Nothing that a browser would fetch: the only URL is the XML namespace.
    text = data.decode()
    assert re.findall(r"https?://[^\s\"']+", text) == ["http://www.w3.org/2000/svg"]
    assert "href" not in text and "<script" not in text
    assert svg_qr(URL) == data
    assert svg_qr(URL + "x") != data
