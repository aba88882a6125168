"""QR codes of join URLs: for the terminal at `serve` start-up and as SVG for the teacher page.
It must never fetch anything or embed a URL other than the join URL.

Both render locally with the `qrcode` package; nothing is fetched, and the SVG contains no URL but
its XML namespace, so it is safe under the box's CSP and with no internet.
"""

from __future__ import annotations

import qrcode
import qrcode.image.svg
from qrcode.constants import ERROR_CORRECT_M

# Upper half, lower half, both, neither: two QR rows per text line keeps the code square-ish and
# small enough for an 80x24 terminal.
_HALF = {(True, True): "\u2588", (True, False): "\u2580", (False, True): "\u2584",
         (False, False): " "}


def _matrix(url: str, border: int) -> list[list[bool]]:
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=border)
    qr.add_data(url)
    qr.make(fit=True)
    return qr.get_matrix()  # True = dark module, border included


def terminal_qr(url: str, *, invert: bool = True, ascii_only: bool = False) -> str:
    """The QR code of `url` as text to print, one line per two module rows.

    Scanners need dark modules on a light background. Terminals usually draw light glyphs on a
    dark background, so by default (`invert=True`) the glyphs paint the *light* modules and the
    quiet zone; pass `invert=False` for dark-on-light terminals. `ascii_only=True` uses "##" per
    module (one line per row) for consoles without UTF-8, e.g. a serial console or `LANG=C`.
    """
    matrix = _matrix(url, border=2)
    paint = [[cell != invert for cell in row] for row in matrix]
    if ascii_only:
        return "\n".join("".join("##" if cell else "  " for cell in row) for row in paint) + "\n"
    if len(paint) % 2:
        paint.append([False] * len(paint[0]))
    lines = []
    for top, bottom in zip(paint[0::2], paint[1::2], strict=True):
        lines.append("".join(_HALF[(a, b)] for a, b in zip(top, bottom, strict=True)))
    return "\n".join(lines) + "\n"


def svg_qr(url: str) -> bytes:
    """The QR code of `url` as a standalone SVG document (image/svg+xml), scalable and crisp.

    One <path> for all dark modules keeps it small; a white background rect is included so the
    code stays scannable on a dark page theme.
    """
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=4,
                       image_factory=qrcode.image.svg.SvgPathFillImage)
    qr.add_data(url)
    qr.make(fit=True)
    return qr.make_image().to_string(encoding="utf-8")
