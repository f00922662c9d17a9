"""The lab's command-line messages in English and Chinese, through Python's ``gettext``.

The catalogs are ``locale/LANG/LC_MESSAGES/circuitgrad.po`` (edited by hand) and the
``.mo`` beside each, which ``gettext`` reads; ``python -m circuitgrad.lab.i18n`` rebuilds
the ``.mo`` files (a test checks they are up to date). A third language is one more
catalog. The page's own texts are ``static/messages.json``.
"""

import ast
import gettext
import struct
from pathlib import Path

LOCALE = Path(__file__).resolve().parent / "locale"
DOMAIN = "circuitgrad"


def translator(lang):
    """``_(message)`` for ``lang``: the catalog's translation, or the English message."""
    return gettext.translation(DOMAIN, LOCALE, languages=[lang], fallback=True).gettext


def read_po(text):
    """{msgid: msgstr} of a .po file's text (single and continued lines, no plurals)."""
    entries, key, current = {}, None, None
    for raw in text.splitlines() + [""]:
        line = raw.strip()
        if line.startswith("msgid "):
            key, current = "msgid", [ast.literal_eval(line[6:])]
            msgid = current
        elif line.startswith("msgstr "):
            key, current = "msgstr", [ast.literal_eval(line[7:])]
            entries["".join(msgid)] = current
        elif line.startswith('"') and current is not None:
            current.append(ast.literal_eval(line))
        elif not line or line.startswith("#"):
            key = None
    del key
    return {k: "".join(v) for k, v in entries.items() if "".join(v)}


def write_mo(messages):
    """The bytes of a GNU .mo file holding ``messages`` ({msgid: msgstr})."""
    keys = sorted(messages)
    ids = [k.encode("utf-8") for k in keys]
    strs = [messages[k].encode("utf-8") for k in keys]
    n = len(keys)
    start = 7 * 4 + 16 * n  # header, then both tables of (length, offset) pairs
    table, blob = [], b""
    for group in (ids, strs):
        offsets = []
        for s in group:
            offsets.append((len(s), start + len(blob)))
            blob += s + b"\0"
        table.append(offsets)
    head = struct.pack("<7I", 0x950412DE, 0, n, 28, 28 + 8 * n, 0, start)
    body = b"".join(struct.pack("<2I", *pair) for offsets in table for pair in offsets)
    return head + body + blob


def build():
    """Rebuild every catalog's .mo from its .po; returns the paths written."""
    written = []
    for po in sorted(LOCALE.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        mo = po.with_suffix(".mo")
        mo.write_bytes(write_mo(read_po(po.read_text(encoding="utf-8"))))
        written.append(mo)
    return written


if __name__ == "__main__":  # pragma: no cover
    for path in build():
        print(f"wrote {path}")
