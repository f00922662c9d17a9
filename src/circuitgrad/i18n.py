"""What a learner reads, in English and Chinese, through Python's ``gettext``.

The English text is written in the source, marked ``_("...")`` where it is printed at once,
or ``msg("...", name=value)`` where it is made now and printed later (an error's message,
a note of the staged listing): ``str()`` of a ``msg`` is English, ``.render(_)`` speaks the
translator's language, its values included. The translations are GNU gettext catalogs,
``locale/LANG/LC_MESSAGES/circuitgrad.po`` (edited by hand) with the ``.mo`` beside each,
which ``gettext`` reads.

``python tools/catalogs.py`` (in the source tree) rebuilds every ``.mo``, writes
``locale/circuitgrad.pot`` (every marked message: the template of a new catalog) and lists
the messages a catalog does not translate. A third language is one more catalog: copy the
template to ``locale/LANG/LC_MESSAGES/circuitgrad.po``, fill in its ``msgstr`` lines, run
the script, and add LANG to ``LANGUAGES`` (the choices of ``--lang``).

>>> _ = translator("zh")
>>> _("Press Ctrl+C to stop.")
'按 Ctrl+C 停止。'
>>> str(msg("the {what} is empty", what=msg("expression")))
'the expression is empty'
>>> msg("the {what} is empty", what=msg("expression")).render(_)
'表达式为空'
"""

import argparse
import ast
import contextlib
import gettext
import os
import struct
from pathlib import Path

LOCALE = Path(__file__).resolve().parent / "locale"
DOMAIN = "circuitgrad"
LANGUAGES = ("en", "zh")  # English is the source text, so it needs no catalog
MARKERS = ("_", "msg")  # the calls whose first argument is a message to translate


def translator(lang):
    """``_(message)`` for ``lang``: the catalog's translation, or the English message."""
    return gettext.translation(DOMAIN, LOCALE, languages=[lang], fallback=True).gettext


def english(message):
    """The translator of English: every message as written."""
    return message


def locale_lang(environ=None):
    """``zh`` where the locale is Chinese (LANGUAGE, LC_ALL, LC_MESSAGES, LANG, the first
    one set, as gettext reads them), else ``en``."""
    environ = os.environ if environ is None else environ
    for key in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(key)
        if value:
            first = value.split(":")[0].lower()  # LANGUAGE lists languages: zh_CN:en
            return "zh" if first.startswith("zh") else "en"
    return "en"


class msg(str):
    """A message made now and shown later, in the language of whoever shows it.

    It is the English text (a ``str``, so it goes wherever text goes); ``template`` is the
    English with ``{name}`` fields, and ``render(_)`` fills them in the translator's
    language; a value that is itself a ``msg`` is translated with it.
    """

    def __new__(cls, template, **values):
        self = super().__new__(cls, template.format(**values) if values else template)
        self.template = template
        self.values = values
        return self

    def render(self, _=english):
        """The message in the language of the translator ``_``."""
        values = {k: render(v, _) if isinstance(v, msg) else v for k, v in self.values.items()}
        return _(self.template).format(**values) if values else _(self.template)

    def __repr__(self):
        return f"msg({str(self)!r})"


def render(message, _=english):
    """``message`` (a ``msg``, a plain string, or an exception carrying one) in the
    language of ``_``; plain strings are shown as they are."""
    if isinstance(message, BaseException):  # its message: a msg if it was raised with one
        args = message.args
        message = getattr(message, "message", None) or (args[0] if len(args) == 1 else
                                                         str(message))
    return message.render(_) if isinstance(message, msg) else str(message)


# ----- the catalogs ------------------------------------------------------------------------
def read_po(text):
    """{msgid: msgstr} of a .po file's text (single and continued lines); entries with an
    empty msgstr (not translated yet) are left out. A plural entry (``msgid_plural``,
    ``msgstr[N]``) is keyed as a .mo file keys it: singular and plural joined by a NUL, and
    its translation is its forms joined the same way."""
    entries, ids, strs, current = [], None, None, None
    for raw in text.splitlines():
        line = raw.strip()
        keyword, _, rest = line.partition(" ")
        if keyword in ("msgid", "msgid_plural"):
            if keyword == "msgid":
                ids, strs = [], []
                entries.append((ids, strs))
            current = [ast.literal_eval(rest)]
            ids.append(current)
        elif keyword == "msgstr" or keyword.startswith("msgstr["):
            current = [ast.literal_eval(rest)]
            strs.append(current)
        elif line.startswith('"') and current is not None:
            current.append(ast.literal_eval(line))
        elif not line or line.startswith("#"):
            current = None
    joined = {"\0".join(map("".join, ids)): "\0".join(map("".join, strs))
              for ids, strs in entries}
    return {k: v for k, v in joined.items() if v.strip("\0")}


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


def catalogs(domain=DOMAIN):
    """{lang: path of its .po} for every catalog of ``domain`` there is."""
    return {po.parent.parent.name: po for po in sorted(LOCALE.glob(f"*/LC_MESSAGES/{domain}.po"))}


def build():
    """Rebuild every catalog's .mo (both domains) from its .po; returns the paths written."""
    written = []
    for po in sorted(LOCALE.glob("*/LC_MESSAGES/*.po")):
        mo = po.with_suffix(".mo")
        mo.write_bytes(write_mo(read_po(po.read_text(encoding="utf-8"))))
        written.append(mo)
    return written


def marked_messages(root=None):
    """{message: [file, ...]} of every ``_("...")`` and ``msg("...")`` in the package's
    source (the first argument, a string literal)."""
    root = Path(__file__).resolve().parent if root is None else Path(root)
    found = {}
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in MARKERS and node.args
                    and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)):
                where = str(path.relative_to(root.parent))
                places = found.setdefault(node.args[0].value, [])
                if where not in places:
                    places.append(where)
    return found


def argparse_messages(source=None):
    """The messages argparse translates (its ``_("...")`` and ``ngettext("...", "...")``
    calls), read from the source of the running Python's argparse, keyed as ``read_po``
    keys them."""
    tree = ast.parse(Path(source or argparse.__file__).read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            count = {"_": 1, "ngettext": 2}.get(node.func.id)
            texts = [a.value for a in node.args[:count or 0] if isinstance(a, ast.Constant)]
            if count and len(texts) == count:
                found.add("\0".join(texts))
    return found


def positive_number(_=english):
    """An argparse type: a finite number above 0 (``float()`` also reads 'inf' and 'nan');
    a bad one exits 2 with one line in the language of the translator ``_``."""
    def positive_number(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(_("expected a number, not {text}").format(
                text=repr(text))) from None
        if not (value > 0 and value != float("inf")):  # nan fails the first test
            raise argparse.ArgumentTypeError(
                _("must be a finite number above 0, not {text}").format(text=text))
        return value
    return positive_number


@contextlib.contextmanager
def argparse_speaking(lang):
    """argparse's own words (``usage:``, ``options:``, its errors) in ``lang`` inside the
    block, from the ``argparse`` catalogs beside circuitgrad's.

    argparse looks its words up through its module's ``_`` and ``ngettext`` (``gettext``'s
    process-wide domain) when it prints them, so the command line puts its translation there
    while it builds and parses its arguments, and puts argparse's own back on the way out,
    exit included: code that uses argparse before or after sees no change. (Another thread
    parsing its own arguments at that very moment would; the command line parses once.)

    >>> import argparse
    >>> with argparse_speaking("zh"):
    ...     argparse.ArgumentParser(prog="p").format_usage()
    '用法：p [-h]\\n'
    >>> argparse.ArgumentParser(prog="p").format_usage()
    'usage: p [-h]\\n'
    """
    words = gettext.translation("argparse", LOCALE, languages=[lang], fallback=True)
    saved = argparse._, argparse.ngettext
    argparse._, argparse.ngettext = words.gettext, words.ngettext
    try:
        yield
    finally:
        argparse._, argparse.ngettext = saved


def _po_string(text):
    """A .po string literal: JSON-like escapes, which is what ``ast.literal_eval`` reads."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def write_pot(messages):
    """The text of the template catalog holding ``messages`` ({message: places})."""
    out = ["# The messages of circuitgrad to translate: copy to LANG/LC_MESSAGES/"
           f"{DOMAIN}.po,", "# fill in the msgstr lines, run: python tools/catalogs.py",
           'msgid ""', 'msgstr ""', '"Content-Type: text/plain; charset=UTF-8\\n"', ""]
    for text in sorted(messages):
        out += [f"#: {' '.join(messages[text])}", f"msgid {_po_string(text)}", 'msgstr ""', ""]
    return "\n".join(out)


def main():  # pragma: no cover -- tools/catalogs.py; the tests call its parts
    messages = marked_messages()
    pot = LOCALE / f"{DOMAIN}.pot"
    pot.write_text(write_pot(messages), encoding="utf-8")
    print(f"wrote {pot} ({len(messages)} messages)")
    for path in build():
        print(f"wrote {path}")
    for lang, po in catalogs().items():
        missing = sorted(set(messages) - set(read_po(po.read_text(encoding="utf-8"))))
        for text in missing:
            print(f"{lang}: not translated: {text!r} ({', '.join(messages[text])})")
    for lang, po in catalogs("argparse").items():  # argparse's words, from its source
        for text in sorted(argparse_messages() - set(read_po(po.read_text(encoding="utf-8")))):
            print(f"{lang}: argparse's {text!r} is not translated ({po.name})")

