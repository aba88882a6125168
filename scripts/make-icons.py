#!/usr/bin/env python3
"""Draw the classroom-box app icons (SVG + PNG 192/512 + maskable) with the standard library only.

Why a script and not an image editor: the icons are part of the source, so anyone can change the
colour or the shape in one place and regenerate every size identically. Why no Pillow: it is not a
project dependency, and a few rounded rectangles and circles are easy to rasterise with 4x4
supersampling and write as PNG with zlib.

Usage: python3 scripts/make-icons.py   (writes into static/icons/)
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "static" / "icons"

BLUE = "#1d4f91"
WHITE = "#ffffff"
AMBER = "#f6b73c"


@dataclass(frozen=True)
class RoundRect:
    """Axis-aligned rectangle with corner radius r, in a 100x100 design space."""

    x0: float
    y0: float
    x1: float
    y1: float
    r: float
    fill: str

    def contains(self, x: float, y: float) -> bool:
        if x < self.x0 or x > self.x1 or y < self.y0 or y > self.y1:
            return False
        cx = min(max(x, self.x0 + self.r), self.x1 - self.r)
        cy = min(max(y, self.y0 + self.r), self.y1 - self.r)
        return (x - cx) ** 2 + (y - cy) ** 2 <= self.r**2

    def bbox(self) -> tuple[float, float, float, float]:
        return self.x0, self.y0, self.x1, self.y1

    def svg(self) -> str:
        return (
            f'<rect x="{self.x0:g}" y="{self.y0:g}" width="{self.x1 - self.x0:g}" '
            f'height="{self.y1 - self.y0:g}" rx="{self.r:g}" fill="{self.fill}"/>'
        )


@dataclass(frozen=True)
class Circle:
    cx: float
    cy: float
    r: float
    fill: str

    def contains(self, x: float, y: float) -> bool:
        return (x - self.cx) ** 2 + (y - self.cy) ** 2 <= self.r**2

    def bbox(self) -> tuple[float, float, float, float]:
        return self.cx - self.r, self.cy - self.r, self.cx + self.r, self.cy + self.r

    def svg(self) -> str:
        return f'<circle cx="{self.cx:g}" cy="{self.cy:g}" r="{self.r:g}" fill="{self.fill}"/>'


def foreground(scale: float) -> list[RoundRect | Circle]:
    """The board, its stand and the 'live' dot, scaled about the centre (maskable needs room)."""

    def s(v: float) -> float:
        return 50 + (v - 50) * scale

    def rr(x0: float, y0: float, x1: float, y1: float, r: float, fill: str) -> RoundRect:
        return RoundRect(s(x0), s(y0), s(x1), s(y1), r * scale, fill)

    return [
        rr(18, 26, 82, 68, 6, WHITE),  # the board
        rr(27, 36, 62, 41.5, 2.75, BLUE),  # writing on it
        rr(27, 46.5, 54, 52, 2.75, BLUE),
        rr(27, 57, 44, 62.5, 2.75, BLUE),
        rr(46, 67, 54, 76, 0, WHITE),  # stand
        rr(33, 74, 67, 80, 3, WHITE),  # foot
        Circle(s(74), s(30), 12 * scale, BLUE),  # gap ring around the dot
        Circle(s(74), s(30), 8.5 * scale, AMBER),  # the "live" dot
    ]


def shapes(maskable: bool) -> list[RoundRect | Circle]:
    if maskable:
        # Full-bleed background; content within the 80 % safe circle.
        return [RoundRect(0, 0, 100, 100, 0, BLUE), *foreground(0.78)]
    return [RoundRect(0, 0, 100, 100, 22, BLUE), *foreground(1.0)]


def to_svg(items: list[RoundRect | Circle]) -> str:
    body = "\n  ".join(i.svg() for i in items)
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100" width="100" height="100">\n'
        f"  {body}\n</svg>\n"
    )


def hex_rgb(c: str) -> tuple[int, int, int]:
    return int(c[1:3], 16), int(c[3:5], 16), int(c[5:7], 16)


def rasterise(items: list[RoundRect | Circle], size: int, ss: int = 4) -> bytes:
    """RGBA pixels, painter's order, ss x ss supersampling per pixel."""
    unit = 100 / size
    rows = bytearray()
    cols = [hex_rgb(i.fill) for i in items]
    for py in range(size):
        rows.append(0)  # PNG filter type 0 for this scanline
        for px in range(size):
            acc = [0.0, 0.0, 0.0, 0.0]
            for sy in range(ss):
                y = (py + (sy + 0.5) / ss) * unit
                for sx in range(ss):
                    x = (px + (sx + 0.5) / ss) * unit
                    colour = None
                    for item, col in zip(reversed(items), reversed(cols)):
                        if item.contains(x, y):
                            colour = col
                            break
                    if colour is not None:
                        acc[0] += colour[0]
                        acc[1] += colour[1]
                        acc[2] += colour[2]
                        acc[3] += 255
            n = ss * ss
            a = acc[3] / n
            if a:
                # colours are averaged over covered samples only (un-premultiplied RGBA)
                cov = acc[3] / 255
                rows += bytes((round(acc[0] / cov), round(acc[1] / cov), round(acc[2] / cov), round(a)))
            else:
                rows += b"\x00\x00\x00\x00"
    return bytes(rows)


def png(size: int, raw: bytes) -> bytes:
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "icon.svg").write_text(to_svg(shapes(False)), encoding="utf-8")
    (OUT / "icon-maskable.svg").write_text(to_svg(shapes(True)), encoding="utf-8")
    for size in (192, 512):
        for maskable in (False, True):
            name = f"icon-{'maskable-' if maskable else ''}{size}.png"
            # 512 px with 4x4 samples is ~4 M point tests: 2x2 is plenty at that size.
            data = png(size, rasterise(shapes(maskable), size, ss=4 if size <= 192 else 2))
            (OUT / name).write_bytes(data)
            print(f"wrote {name} ({len(data)} bytes)")
    print("wrote icon.svg, icon-maskable.svg")


if __name__ == "__main__":
    main()
