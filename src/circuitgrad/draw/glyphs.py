"""Chinese text in pictures: wire names typed in Chinese, drawn with a bundled font.

The layout engine (graphviz-pure) draws PNG text with the Latin fonts compiled into it, so a
Chinese name comes out as empty boxes, and its layout gives each Chinese character the width
of a space. Here, before layout, each run of Chinese characters becomes a run of spaces one
em wide per character, in a face of its own (``cgglyph0``, ``cgglyph1``...), so that the
layout leaves the room the characters need and says where it put them. Then:

- in SVG, each such run gets its characters back, in a font list that any system with a
  Chinese font shows (the text stays text: searchable, selectable);
- in PNG, the characters are drawn into the engine's image at those places, from the
  outlines of ``fonts/cjk.ttf``: the Chinese characters of GB 2312 (6,763 hanzi) and CJK
  punctuation from Droid Sans Fallback (Apache License 2.0, ``fonts/LICENSE``), read and
  rasterized here with NumPy.

A character the font does not hold is drawn as the font's empty box, never silently:
``Picture.png()`` warns (:class:`MissingGlyphWarning`, naming the characters) and
``circuitgrad grad --png`` prints a one-line warning.
"""

import re
import struct
import zlib
from functools import lru_cache
from pathlib import Path

import numpy as np

from .. import backend

FONT_FILE = Path(__file__).resolve().parent / "fonts" / "cjk.ttf"
FACE = "cgglyph"
# what the engine's fonts (Tinos, Arimo, Cousine) do not draw: CJK symbols and punctuation,
# kana, the unified ideographs and their extensions, compatibility ideographs, full-width forms
_CJK = "\u2e80-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef"
_RUN = re.compile(f"[{_CJK}]+")
_HTML_LABEL = re.compile(r"label=<")
CJK_FONTS = ("Helvetica,'PingFang SC','Hiragino Sans GB','Microsoft YaHei','Noto Sans CJK SC',"
             "'Source Han Sans SC','WenQuanYi Micro Hei','Droid Sans Fallback',sans-serif")
_SPACES_PER_EM = 4  # the engine measures an unknown face with Times, whose space is 1/4 em


class MissingGlyphWarning(UserWarning):
    """A PNG picture draws some characters as empty boxes: the bundled font lacks them."""


def missing(runs):
    """The characters of ``runs`` the bundled font has no glyph for, each once, in order.

    >>> missing(["价格", "丂亐价"])
    ['丂', '亐']
    """
    cmap = _font().cmap
    return list(dict.fromkeys(c for run in runs for c in run if ord(c) not in cmap))


def missing_message(chars):
    """The warning for the characters ``chars`` a PNG draws as boxes, as an ``i18n.msg``."""
    from ..i18n import msg

    return msg("the PNG draws {count} characters as empty boxes ({chars}): its font holds "
               "the 6,763 hanzi of GB 2312 and CJK punctuation only; the SVG shows them "
               "with the system's fonts", count=len(chars), chars="".join(chars))


def needs_glyphs(text):
    """Whether ``text`` has characters the layout engine's own fonts cannot draw."""
    return _RUN.search(text) is not None


def prepare(source):
    """``(source with each Chinese run made spaces in a face of its own, [the runs])``.

    Only HTML-like labels are changed (every label holding a name is one); a run elsewhere
    is left as it is.
    """
    runs = []

    def placeholder(match):
        runs.append(match.group(0))
        spaces = " " * (_SPACES_PER_EM * len(match.group(0)))
        return f'<FONT FACE="{FACE}{len(runs) - 1}">{spaces}</FONT>'

    lines = [_RUN.sub(placeholder, line) if _HTML_LABEL.search(line) else line
             for line in source.split("\n")]
    return "\n".join(lines), runs


_TEXT = re.compile(r'<text ([^>]*)font-family="' + FACE + r'(\d+)"([^>]*)>[^<]*</text>')


def fill_svg(svg, runs):
    """The engine's SVG of a prepared source, with the runs written back in as text."""
    def text(match):
        before, k, after = match.groups()
        return (f'<text {before}font-family="{CJK_FONTS}"{after}>'
                f"{_escape(runs[int(k)])}</text>")
    return _TEXT.sub(text, svg)


def _escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# ----- drawing the runs into the PNG -------------------------------------------------------
def _attr(attrs, name, default=None):
    found = re.search(rf'\b{name}="([^"]*)"', attrs)
    return found.group(1) if found else default


def paint_png(png, layout_svg, runs):
    """The engine's PNG of a prepared source, with the runs drawn in where its SVG (the same
    layout) puts them."""
    image = read_png(png)
    size = re.search(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"', layout_svg)
    px_per_pt = image.shape[1] / float(size.group(1))
    transform = re.search(r'class="graph" transform="scale\(([-\d.]+) ([-\d.]+)\) '
                          r'rotate\(0\) translate\(([-\d.]+) ([-\d.]+)\)"', layout_svg)
    sx, sy, tx, ty = (float(v) for v in transform.groups())
    font = _font()
    for match in re.finditer(r'<text ([^>]*)font-family="' + FACE + r'(\d+)"([^>]*)>',
                             layout_svg):
        attrs = match.group(1) + match.group(3)
        run = runs[int(match.group(2))]
        em = float(_attr(attrs, "font-size", "14")) * sy * px_per_pt
        x = (float(_attr(attrs, "x")) + tx) * sx * px_per_pt
        baseline = (float(_attr(attrs, "y")) + ty) * sy * px_per_pt
        anchor = _attr(attrs, "text-anchor", "start")
        width = em * len(run)
        x -= {"middle": width / 2, "end": width}.get(anchor, 0)
        coverage, left, top = font.draw(run, em, italic=_attr(attrs, "font-style") == "italic",
                                        bold=_attr(attrs, "font-weight") == "bold")
        _blend(image, coverage, int(round(x + left)), int(round(baseline + top)),
               _colour(_attr(attrs, "fill", "black")))
    return write_png(image)


def _colour(fill):
    if fill.startswith("#") and len(fill) == 7:
        return np.array([int(fill[k:k + 2], 16) for k in (1, 3, 5)], dtype=np.float64)
    return backend.zeros(3)


def _blend(image, coverage, x, y, colour):
    """Paint ``colour`` over ``image`` (RGBA) with ``coverage`` as alpha, its corner at x, y."""
    h, w = coverage.shape
    top, left = max(y, 0), max(x, 0)
    bottom, right = min(y + h, image.shape[0]), min(x + w, image.shape[1])
    if bottom <= top or right <= left:
        return
    alpha = coverage[top - y:bottom - y, left - x:right - x, None]
    region = image[top:bottom, left:right].astype(np.float64)
    region[..., :3] = colour * alpha + region[..., :3] * (1 - alpha)
    region[..., 3:] = 255 * alpha + region[..., 3:] * (1 - alpha)
    image[top:bottom, left:right] = np.round(region).astype(np.uint8)


# ----- the font: TrueType outlines ---------------------------------------------------------
@lru_cache(maxsize=1)
def _font():
    return Font(FONT_FILE.read_bytes())


class Font:
    """The glyph outlines of a TrueType font (``glyf`` table), by character."""

    def __init__(self, data):
        self.data = data
        count = struct.unpack_from(">H", data, 4)[0]
        self.tables = {}
        for k in range(count):
            tag, _, offset, length = struct.unpack_from(">4sIII", data, 12 + 16 * k)
            self.tables[tag.decode("latin-1")] = (offset, length)
        head = self.tables["head"][0]
        self.units_per_em = struct.unpack_from(">H", data, head + 18)[0]
        long_loca = struct.unpack_from(">h", data, head + 50)[0] == 1
        glyphs = struct.unpack_from(">H", data, self.tables["maxp"][0] + 4)[0]
        loca = self.tables["loca"][0]
        if long_loca:
            self.loca = struct.unpack_from(f">{glyphs + 1}I", data, loca)
        else:
            self.loca = tuple(2 * v for v in struct.unpack_from(f">{glyphs + 1}H", data, loca))
        metrics = struct.unpack_from(">H", data, self.tables["hhea"][0] + 34)[0]
        advances = struct.unpack_from(f">{2 * metrics}H", data, self.tables["hmtx"][0])[::2]
        self.advances = advances + (advances[-1],) * (glyphs - metrics)
        self.cmap = self._read_cmap()

    def _read_cmap(self):
        data, base = self.data, self.tables["cmap"][0]
        mapping = {}
        for k in range(struct.unpack_from(">H", data, base + 2)[0]):
            _, _, offset = struct.unpack_from(">HHI", data, base + 4 + 8 * k)
            sub = base + offset
            form = struct.unpack_from(">H", data, sub)[0]
            if form == 4:
                segments = struct.unpack_from(">H", data, sub + 6)[0] // 2
                ends = struct.unpack_from(f">{segments}H", data, sub + 14)
                starts = struct.unpack_from(f">{segments}H", data, sub + 16 + 2 * segments)
                deltas = struct.unpack_from(f">{segments}h", data, sub + 16 + 4 * segments)
                ranges_at = sub + 16 + 6 * segments
                ranges = struct.unpack_from(f">{segments}H", data, ranges_at)
                for s, (start, end, delta, rng) in enumerate(zip(starts, ends, deltas, ranges,
                                                                 strict=True)):
                    for code in range(start, min(end, 0xFFFE) + 1):
                        if rng == 0:
                            glyph = (code + delta) & 0xFFFF
                        else:
                            at = ranges_at + 2 * s + rng + 2 * (code - start)
                            glyph = struct.unpack_from(">H", data, at)[0]
                            glyph = (glyph + delta) & 0xFFFF if glyph else 0
                        if glyph:
                            mapping.setdefault(code, glyph)
            elif form == 12:
                groups = struct.unpack_from(">I", data, sub + 12)[0]
                for g in range(groups):
                    start, end, first = struct.unpack_from(">III", data, sub + 16 + 12 * g)
                    for code in range(start, end + 1):
                        mapping.setdefault(code, first + code - start)
        return mapping

    def contours(self, glyph, depth=0):
        """The glyph's closed contours, each a list of (x, y, on_curve) in font units."""
        start, end = self.loca[glyph], self.loca[glyph + 1]
        if end <= start or depth > 8:
            return []
        at = self.tables["glyf"][0] + start
        data = self.data
        count = struct.unpack_from(">h", data, at)[0]
        if count < 0:
            return self._composite(at + 10, depth)
        ends = struct.unpack_from(f">{count}H", data, at + 10)
        points = ends[-1] + 1 if count else 0
        at += 10 + 2 * count
        at += 2 + struct.unpack_from(">H", data, at)[0]  # skip the instructions
        flags = []
        while len(flags) < points:
            flag = data[at]
            at += 1
            repeat = 1
            if flag & 8:
                repeat += data[at]
                at += 1
            flags += [flag] * repeat
        coords = []
        for short, same in ((2, 16), (4, 32)):  # x, then y
            value, values = 0, []
            for flag in flags:
                if flag & short:
                    step = data[at]
                    at += 1
                    value += step if flag & same else -step
                elif not flag & same:
                    value += struct.unpack_from(">h", data, at)[0]
                    at += 2
                values.append(value)
            coords.append(values)
        out, first = [], 0
        for last in ends:
            out.append([(coords[0][i], coords[1][i], bool(flags[i] & 1))
                        for i in range(first, last + 1)])
            first = last + 1
        return out

    def _composite(self, at, depth):
        data, out = self.data, []
        while True:
            flags, glyph = struct.unpack_from(">HH", data, at)
            at += 4
            if flags & 1:
                dx, dy = struct.unpack_from(">hh", data, at)
                at += 4
            else:
                dx, dy = struct.unpack_from(">bb", data, at)
                at += 2
            if not flags & 2:  # components placed by matching points: not used here
                dx = dy = 0
            a, b, c, d = 1.0, 0.0, 0.0, 1.0
            if flags & 8:
                a = d = struct.unpack_from(">h", data, at)[0] / 16384
                at += 2
            elif flags & 0x40:
                a, d = (v / 16384 for v in struct.unpack_from(">hh", data, at))
                at += 4
            elif flags & 0x80:
                a, b, c, d = (v / 16384 for v in struct.unpack_from(">hhhh", data, at))
                at += 8
            for contour in self.contours(glyph, depth + 1):
                out.append([(a * x + c * y + dx, b * x + d * y + dy, on)
                            for x, y, on in contour])
            if not flags & 0x20:
                return out

    def draw(self, text, em, italic=False, bold=False):
        """``text`` at ``em`` pixels per em, each character one em wide (as the layout
        made room for): ``(coverage, left, top)``, coverage in [0, 1] with its corner at
        (left, top) from the pen's start on the baseline."""
        scale = em / self.units_per_em
        slant = 0.2 if italic else 0.0
        polygons, pen = [], 0.0
        for char in text:
            glyph = self.cmap.get(ord(char), 0)
            width = self.advances[glyph] * scale
            shift = pen + (em - width) / 2  # centred in its em
            for contour in self.contours(glyph):
                points = _flatten(contour)
                if len(points) >= 3:
                    xs = points[:, 0] * scale + shift + slant * points[:, 1] * scale
                    polygons.append(np.column_stack([xs, -points[:, 1] * scale]))
            pen += em
        if not polygons:
            return backend.zeros((1, 1)), 0, 0
        every = np.concatenate(polygons)
        left, top = int(np.floor(every[:, 0].min())) - 1, int(np.floor(every[:, 1].min())) - 1
        width = int(np.ceil(every[:, 0].max())) - left + 2
        height = int(np.ceil(every[:, 1].max())) - top + 2
        coverage = _fill([p - (left, top) for p in polygons], height, width)
        if bold:  # a bolder stroke: the shape and itself moved by a third of a pixel
            shifted = backend.zeros_like(coverage)
            shifted[:, 1:] = coverage[:, :-1]
            coverage = np.maximum(coverage, 0.6 * shifted + 0.4 * coverage)
        return coverage, left, top


def _flatten(contour, steps=4):
    """A TrueType contour (quadratic, with implied on-curve points) as a polygon."""
    points = [(float(x), float(y), on) for x, y, on in contour]
    if not any(on for _, _, on in points):  # only control points: start between two
        (x0, y0, _), (x1, y1, _) = points[0], points[1]
        points.insert(0, ((x0 + x1) / 2, (y0 + y1) / 2, True))
    while not points[0][2]:
        points.append(points.pop(0))
    out = [points[0][:2]]
    n = len(points)
    k = 1
    t = backend.linspace(0, 1, steps + 1)[1:, None]
    while k <= n:
        x, y, on = points[k % n]
        if on:
            out.append((x, y))
            k += 1
            continue
        nx, ny, non = points[(k + 1) % n]
        end = (nx, ny) if non else ((x + nx) / 2, (y + ny) / 2)
        start = np.array(out[-1])
        curve = ((1 - t) ** 2 * start + 2 * (1 - t) * t * np.array([x, y])
                 + t ** 2 * np.array(end))
        out.extend(map(tuple, curve))
        k += 2 if non else 1
    return np.array(out)


def _fill(polygons, height, width, samples=4):
    """Coverage of the polygons (non-zero winding), ``samples`` x ``samples`` per pixel."""
    edges = np.concatenate([np.column_stack([p, np.roll(p, -1, axis=0)]) for p in polygons])
    x0, y0, x1, y1 = (edges[:, k] * samples for k in range(4))
    keep = y0 != y1
    x0, y0, x1, y1 = x0[keep], y0[keep], x1[keep], y1[keep]
    direction = np.where(y1 > y0, 1, -1)
    inside = backend.zeros((height * samples, width * samples + 1), dtype=np.int32)
    for row in range(height * samples):
        y = row + 0.5
        active = (np.minimum(y0, y1) <= y) & (np.maximum(y0, y1) > y)
        if not active.any():
            continue
        xs = x0[active] + (y - y0[active]) * (x1[active] - x0[active]) / (
            y1[active] - y0[active])
        order = np.argsort(xs)
        xs, winding = xs[order], np.cumsum(direction[active][order])
        spans = np.flatnonzero(winding != 0)  # from xs[i] to xs[i + 1]
        starts = np.clip(np.ceil(xs[spans] - 0.5), 0, width * samples).astype(int)
        ends = np.clip(np.ceil(xs[spans + 1] - 0.5), 0, width * samples).astype(int)
        backend.add_at(inside[row], starts, 1)
        backend.add_at(inside[row], ends, -1)
    filled = np.cumsum(inside[:, :-1], axis=1) > 0
    return filled.reshape(height, samples, width, samples).mean(axis=(1, 3))


# ----- PNG in and out ----------------------------------------------------------------------
def read_png(data):
    """An 8-bit RGB or RGBA PNG, not interlaced (what the engine writes), as RGBA pixels."""
    at, chunks = 8, []
    while at < len(data):
        length, kind = struct.unpack_from(">I4s", data, at)
        body = data[at + 8:at + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
        at += 12 + length
    channels = {2: 3, 6: 4}.get(colour)
    if depth != 8 or channels is None or interlace:
        raise ValueError(f"unexpected PNG (bit depth {depth}, colour type {colour}, "
                         f"interlace {interlace})")
    raw = np.frombuffer(zlib.decompress(b"".join(chunks)), dtype=np.uint8)
    raw = raw.reshape(height, width * channels + 1)
    pixels = backend.zeros((height, width * channels), dtype=np.uint8)
    previous = backend.zeros(width * channels, dtype=np.uint8)
    for row in range(height):
        kind, line = raw[row, 0], raw[row, 1:]
        if kind == 0:
            out = line.copy()
        elif kind == 1:  # Sub: a running sum along each channel, modulo 256
            out = np.cumsum(line.reshape(width, channels), axis=0, dtype=np.uint8).ravel()
        elif kind == 2:
            out = line + previous
        else:
            out = _unfilter_sequential(kind, line, previous, channels)
        pixels[row] = out
        previous = out
    pixels = pixels.reshape(height, width, channels)
    if channels == 3:
        pixels = np.concatenate([pixels, backend.full((height, width, 1), 255, np.uint8)], axis=2)
    return pixels


def _unfilter_sequential(kind, line, previous, channels):
    """The Average (3) and Paeth (4) filters, which read the byte just decoded (a loop in
    Python: the rows before and to the left are padded with zeros, so it has no branches
    for the edge)."""
    out = bytearray(channels) + bytearray(line.tobytes())
    up = bytes(channels) + previous.tobytes()
    if kind == 3:
        for i in range(channels, len(out)):
            out[i] = (out[i] + ((out[i - channels] + up[i]) >> 1)) & 0xFF
    else:
        for i in range(channels, len(out)):
            left, above, corner = out[i - channels], up[i], up[i - channels]
            pa, pb = above - corner, left - corner  # |p - left|, |p - above| before abs
            pc = pa + pb
            pa, pb, pc = (pa if pa >= 0 else -pa), (pb if pb >= 0 else -pb), \
                (pc if pc >= 0 else -pc)
            if pa <= pb and pa <= pc:
                out[i] = (out[i] + left) & 0xFF
            elif pb <= pc:
                out[i] = (out[i] + above) & 0xFF
            else:
                out[i] = (out[i] + corner) & 0xFF
    return np.frombuffer(bytes(out[channels:]), dtype=np.uint8)


def write_png(pixels):
    """RGBA pixels as PNG bytes (each row filtered with Up, which compresses well here)."""
    height, width, _ = pixels.shape
    rows = pixels.reshape(height, width * 4)
    up = rows - np.vstack([backend.zeros((1, width * 4), np.uint8), rows[:-1]])
    raw = np.hstack([backend.full((height, 1), 2, np.uint8), up]).tobytes()

    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))
