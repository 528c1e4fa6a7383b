"""The QR code of a temporary link: segno's code of the URL, rendered pixel for pixel as a PNG.

No QR decoder is a dependency, so the PNG is read back here (1-bit greyscale, as segno writes it) and its
modules compared with the matrix segno makes for the URL.
"""

from __future__ import annotations

import struct
import zlib

import segno

from services.auth.temporary_links import QR_SCALE, qr_png

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
QR_BORDER = 4


def test_the_qr_code_renders_segnos_matrix_of_the_url() -> None:
    url = "https://push.example.com/0123456789abcdef01234567/"
    assert png_modules(qr_png(url)) == segno_modules(url)
    assert png_modules(qr_png(url)) != segno_modules(url.replace("0123", "4567"))


def segno_modules(url: str) -> list[list[bool]]:
    """The QR code of `url` as segno builds it, dark modules True."""
    return [[bool(module) for module in row] for row in segno.make_qr(url, error="m").matrix]


def png_modules(png: bytes) -> list[list[bool]]:
    """The modules a QR code PNG shows (1-bit greyscale, as segno writes it), read back pixel by pixel.

    Every pixel is checked: the quiet zone is light, and each module is a uniform square.
    """
    assert png.startswith(PNG_SIGNATURE)
    position, data = len(PNG_SIGNATURE), b""
    header: tuple[int, ...] = ()
    while position < len(png):
        (length,) = struct.unpack(">I", png[position : position + 4])
        kind = png[position + 4 : position + 8]
        chunk = png[position + 8 : position + 8 + length]
        (checksum,) = struct.unpack(">I", png[position + 8 + length : position + 12 + length])
        assert zlib.crc32(kind + chunk) == checksum
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            data += chunk
        position += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert (width == height, depth, colour, interlace) == (True, 1, 0, 0)
    raw, stride = zlib.decompress(data), (width + 7) // 8
    dark, above = [], bytes(stride)
    for y in range(height):
        line = raw[y * (stride + 1) : (y + 1) * (stride + 1)]
        above = unfiltered(line[0], line[1:], above)
        dark.append([not (above[x // 8] >> (7 - x % 8)) & 1 for x in range(width)])
    scale = QR_SCALE
    size = width // scale - 2 * QR_BORDER
    assert width % scale == 0 and size >= 21
    modules = [
        [dark[(QR_BORDER + r) * scale][(QR_BORDER + c) * scale] for c in range(size)] for r in range(size)
    ]
    for y in range(height):
        for x in range(width):
            r, c = y // scale - QR_BORDER, x // scale - QR_BORDER
            inside = 0 <= r < size and 0 <= c < size
            assert dark[y][x] == (modules[r][c] if inside else False), (x, y)
    return modules


def unfiltered(kind: int, line: bytes, above: bytes) -> bytes:
    """A PNG scanline with its filter undone (one byte per pixel group at bit depth 1)."""
    out = bytearray()
    for i, byte in enumerate(line):
        left, up, corner = out[i - 1] if i else 0, above[i], above[i - 1] if i else 0
        if kind == 0:
            predicted = 0
        elif kind == 1:
            predicted = left
        elif kind == 2:
            predicted = up
        elif kind == 3:
            predicted = (left + up) // 2
        else:
            assert kind == 4, kind
            estimate = left + up - corner
            distances = (abs(estimate - left), abs(estimate - up), abs(estimate - corner))
            predicted = (left, up, corner)[distances.index(min(distances))]
        out.append((byte + predicted) % 256)
    return bytes(out)
