"""Pictures of circuits whose wires are named in Chinese: PNG draws the characters (the
layout engine's own fonts would give empty boxes), SVG keeps them as text.

Whether a character is drawn is read from the pixels: two names of the same length give the
same layout, so their pictures differ only where the names are drawn, and differently
from the empty box the font draws for a character it does not hold.
"""

import io
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image  # an independent PNG decoder (Pillow comes with matplotlib)

import circuitgrad as cg
from circuitgrad.draw import glyphs

NOT_IN_FONT = "丂亐"  # two hanzi outside GB 2312: the bundled font has no glyph for them


def picture(first, second="数量"):
    a = cg.tensor(3.0, requires_grad=True, name=first)
    b = cg.tensor(-4.0, requires_grad=True, name=second)
    f = a * b
    f.backward()
    return cg.draw(f)


def pixels(png):
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def name_box(pic, name):
    """The pixel box (top, bottom, left, right) where the PNG draws ``name``, from the
    SVG's text position (the same layout)."""
    svg = pic.svg()
    found = re.search(r'<text [^>]*x="([-\d.]+)" y="([-\d.]+)"[^>]*font-size="([\d.]+)"'
                      rf'[^>]*>{name}</text>', svg)
    x, y, size = (float(v) for v in found.groups())
    tx, ty = (float(v) for v in re.search(r'translate\(([-\d.]+) ([-\d.]+)\)', svg).groups())
    scale = pixels(pic.png()).shape[1] / float(re.search(r'width="([\d.]+)pt"', svg).group(1))
    left, base = (x + tx) * scale, (y + ty) * scale
    return (int(base - 1.1 * size * scale), int(base + 0.3 * size * scale),
            int(left - 2), int(left + len(name) * size * scale + 2))


def test_chinese_names_are_drawn_not_boxes():
    price, tofu = picture("价格"), picture(NOT_IN_FONT)
    other = picture("梯度")
    with pytest.warns(glyphs.MissingGlyphWarning):  # the boxes, said (the test below)
        boxes = tofu.png()
    a, b, c = pixels(price.png()), pixels(other.png()), pixels(boxes)
    assert a.shape == b.shape == c.shape  # same layout: names of two characters each
    top, bottom, left, right = name_box(price, "价格")
    differ = np.any(a != b, axis=2)
    assert differ.any()
    rows, cols = np.nonzero(differ)
    assert top <= rows.min() and rows.max() <= bottom  # only where the names are
    assert left <= cols.min() and cols.max() <= right
    region = (slice(top, bottom), slice(left, right))
    ink = (a[region].sum(axis=2) < 384).sum()
    assert ink > 40  # dark strokes, not a blank
    # and each differs from the empty boxes the font draws for characters it lacks
    assert np.any(a[region] != c[region]) and np.any(b[region] != c[region])


def test_the_png_without_the_bundled_glyphs_would_show_identical_boxes():
    """What the engine alone draws: the same picture for two different names (the reason
    for glyphs.py), so the test above can fail."""
    from circuitgrad.draw.render import render

    one, two = picture("价格"), picture("梯度")
    assert render(one.source, "png") == render(two.source, "png")


def test_svg_keeps_the_names_as_text():
    pic = picture("价格")
    assert "价格" in pic.texts() and "数量" in pic.texts()
    assert "cgglyph" not in pic.svg()
    assert "价格" in pic.source  # the DOT source as written


def test_latin_pictures_are_laid_out_as_before():
    pic = picture("x", "y")
    assert not glyphs.needs_glyphs(pic.source)
    assert pic._layout is pic.source


def test_chinese_run_gets_one_em_per_character_in_the_layout():
    source, runs = glyphs.prepare('a [label=<<B>价格</B>>];\nb [label="价格"];')
    assert runs == ["价格"]
    assert '<FONT FACE="cgglyph0">' + " " * 8 + "</FONT>" in source
    assert 'label="价格"' in source  # a quoted label cannot hold a face: left as it is


def test_png_reader_and_writer_agree_with_pillow():
    from circuitgrad.draw.render import render

    png = render(picture("价格").source, "png", dpi=144)  # the engine's adaptive filters
    mine = glyphs.read_png(png)
    assert np.array_equal(mine, np.asarray(Image.open(io.BytesIO(png)).convert("RGBA")))
    again = Image.open(io.BytesIO(glyphs.write_png(mine))).convert("RGBA")
    assert np.array_equal(np.asarray(again), mine)


def test_font_outlines_fill_their_own_shape():
    """The rasterizer against geometry: 口 is a hollow square; 一 one bar."""
    font = glyphs._font()
    mouth, left, top = font.draw("口", 64)
    h, w = mouth.shape
    assert mouth[h // 2, w // 2] < 0.1  # hollow in the middle
    assert mouth[h // 2].max() > 0.9 and mouth[:, w // 2].max() > 0.9  # walls
    one, _, _ = font.draw("一", 64)
    rows = np.nonzero(one.max(axis=1) > 0.5)[0]
    assert len(rows) < 12 and one.shape[1] > 40  # a thin bar, wide
    assert font.cmap.get(ord(NOT_IN_FONT[0])) is None


def test_the_command_line_writes_chinese_pictures(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "circuitgrad", "grad", "总价 := 价格 * 数量", "价格=3",
         "数量=-4", "--png", str(tmp_path / "c.png"), "--svg", str(tmp_path / "c.svg")],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    svg = (tmp_path / "c.svg").read_text("utf-8")
    assert "价格" in svg and "总价" in svg
    Image.open(tmp_path / "c.png").verify()


@pytest.mark.parametrize("fill, want", [("#1a7f37", [26, 127, 55]), ("black", [0, 0, 0])])
def test_text_colours(fill, want):
    assert glyphs._colour(fill).tolist() == want


def test_characters_outside_the_font_are_not_drawn_as_boxes_silently():
    pic = picture("价" + NOT_IN_FONT)
    assert pic.missing_glyphs() == list(NOT_IN_FONT)
    with pytest.warns(glyphs.MissingGlyphWarning, match=r"2 characters as empty boxes "
                                                        r"\(丂亐\).*GB 2312"):
        pic.png()
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a name the font holds draws without a word
        assert picture("价格").missing_glyphs() == []
        picture("价格").png()


@pytest.mark.parametrize("lang, line", [
    ("en", "circuitgrad grad: warning: the PNG draws 2 characters as empty boxes (丂亐): its "
           "font holds the 6,763 hanzi of GB 2312 and CJK punctuation only; the SVG shows "
           "them with the system's fonts"),
    ("zh", "circuitgrad grad：警告：PNG 图把 2 个字符画成了空方框（丂亐）：它的字体只有 "
           "GB 2312 的 6,763 个汉字和中文标点；SVG 图会用系统的字体显示它们"),
])
def test_the_command_line_says_which_characters_its_png_draws_as_boxes(tmp_path, lang, line):
    done = subprocess.run(
        [sys.executable, "-m", "circuitgrad", "grad", "丂亐 * 数量", "丂亐=3", "数量=-4",
         "--no-staged", "--png", str(tmp_path / "c.png"), "--lang", lang],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines() == [line]  # once, and no Python warning
    Image.open(tmp_path / "c.png").verify()
