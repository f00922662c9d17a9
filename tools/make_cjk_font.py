"""Make src/circuitgrad/draw/fonts/cjk.ttf, the font that draws Chinese in PNG pictures.

It is a subset of Droid Sans Fallback (Apache License 2.0; Debian: apt-get install
fonts-droid-fallback): the 6,763 hanzi of GB 2312, CJK symbols and punctuation
(U+3000-U+303F) and the full-width forms (U+FF01-U+FF5E), outlines only (no hinting, no
layout tables). Needs fontTools (pip install fonttools); the package itself reads the
result without it (circuitgrad/draw/glyphs.py).

    python tools/make_cjk_font.py [/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf]
"""

import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont

SOURCE = "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"
TARGET = Path(__file__).resolve().parents[1] / "src/circuitgrad/draw/fonts/cjk.ttf"


def gb2312_hanzi():
    """The hanzi of GB 2312: rows 0xB0-0xF7 of its two-byte code, decoded."""
    chars = []
    for high in range(0xB0, 0xF8):
        for low in range(0xA1, 0xFF):
            try:
                chars.append(bytes([high, low]).decode("gb2312"))
            except UnicodeDecodeError:
                pass  # the few unassigned places at the end of row 0xD7
    return chars


def main(source=SOURCE):
    codes = {ord(c) for c in gb2312_hanzi()} | set(range(0x3000, 0x3040)) | \
        set(range(0xFF01, 0xFF5F))
    options = subset.Options()
    options.hinting = False
    options.layout_features = []
    options.drop_tables += ["GDEF", "GPOS", "GSUB", "vhea", "vmtx", "gasp"]
    options.notdef_outline = True  # a character outside the subset shows the empty box
    font = TTFont(source)
    cutter = subset.Subsetter(options)
    cutter.populate(unicodes=sorted(codes))
    cutter.subset(font)
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    font.save(TARGET)
    print(f"wrote {TARGET} ({TARGET.stat().st_size:,} bytes, {len(codes):,} characters)")


if __name__ == "__main__":
    main(*sys.argv[1:])
