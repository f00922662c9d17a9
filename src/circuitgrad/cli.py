"""The ``circuitgrad`` command: gradients of any expression, staged as the notes stage them.

Exit status: 0 on success, 1 when a gradient check fails or a picture cannot be rendered,
2 for bad input (always a one-line error, never a traceback).
"""

import argparse
import functools
import re
import sys
import textwrap
import unicodedata

import numpy as np

from ._version import __version__
from .i18n import (
    LANGUAGES,
    argparse_speaking,
    english,
    locale_lang,
    positive_number,
    render,
    translator,
)
from .outdir import out_dir_problem
from .report import Report as Report  # still reachable as cli.Report, where it was
from .report import compute, picture_for

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2

_GRAD_EXAMPLES = """\
  circuitgrad grad "x * y" x=4 y=-3
  circuitgrad grad "(x + sigmoid(y)) / (sigmoid(x) + (x + y)**2)" x=3 y=-4 --check
  circuitgrad grad "2 * (x * y + max(z, w))" x=3 y=-4 z=2 w=-1 --png patterns.png
  circuitgrad grad "sum((D := W @ X) * D)" W="[[1, 2], [3, 4]]" X="[[1], [-1]]" --svg d.svg
"""

WIDE = re.compile(r"[\u2e80-\ua4cf\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef]")
CLOSING = set("，。、；：！？）」』》")  # never at the start of a line


def _columns(text):
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def wrap_columns(text, width):
    """``text`` in lines of at most ``width`` columns, where a Chinese character takes two
    (``textwrap`` counts one) and a line may break between two of them.

    >>> wrap_columns("梯度检查 (central differences) 通过", 12)
    ['梯度检查', '(central', 'differences)', '通过']
    """
    lines, line, used, space = [], "", 0, False
    for token in re.findall(r"\s+|" + WIDE.pattern + r"|(?:(?!" + WIDE.pattern + r")\S)+",
                            text):
        if token.isspace():
            space = bool(line)  # one space between words, none at the start of a line
            continue
        gap, size = int(space), _columns(token)
        if line and used + gap + size > width and token not in CLOSING:
            lines.append(line)
            line, used, gap = "", 0, 0
        line, used, space = line + " " * gap + token, used + gap + size, False
    return lines + [line] if line else lines


def fill(text, width=79, indent=""):
    """``textwrap.fill`` for English (as before); Chinese wrapped by its columns."""
    if not WIDE.search(text):
        return textwrap.fill(text, width, initial_indent=indent, subsequent_indent=indent)
    return "\n".join(indent + line for line in wrap_columns(text, width - len(indent)))


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's help layout, with Chinese help texts wrapped by the columns they take."""

    class _Section(argparse.HelpFormatter._Section):
        def format_help(self):
            text = super().format_help()
            if self.heading and WIDE.search(self.heading):  # Python < 3.13 adds a ':'
                text = text.replace(f"{self.heading}:\n", f"{self.heading}：\n", 1)
            return text

    def _split_lines(self, text, width):
        if not WIDE.search(text):
            return super()._split_lines(text, width)
        return wrap_columns(text, width)

    def _fill_text(self, text, width, indent):
        if not WIDE.search(text):
            return super()._fill_text(text, width, indent)
        return fill(" ".join(text.split()), width, indent)


class _RawDescriptionFormatter(_HelpFormatter):
    """Description and epilog as written (already filled); help texts wrapped."""

    _fill_text = argparse.RawDescriptionHelpFormatter._fill_text


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (what went wrong, and where to read more) in the
    language of ``translate``, which the train command's arguments read their help in."""

    def __init__(self, *args, translate=english, **kwargs):
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)
        self.translate = translate

    def error(self, message):
        _ = self.translate
        self.exit(EXIT_BAD_INPUT, _("{prog}: error: {message} (see {prog} --help)").format(
            prog=self.prog, message=message) + "\n")


def _lang_of(argv):
    """The language the command line asks for (``--lang zh``), else the locale's: known
    before the arguments are parsed, so argparse's words and the messages of a command line
    that does not parse are in it too."""
    for k, arg in enumerate(argv):
        value = arg[len("--lang="):] if arg.startswith("--lang=") else \
            (argv[k + 1] if arg == "--lang" and k + 1 < len(argv) else None)
        if value in LANGUAGES:
            return value
    return locale_lang()


def _add_lang(parser, help):
    parser.add_argument("--lang", choices=LANGUAGES, help=help)


def build_parser(with_train=False, lang="en"):
    """The argument parser, its help in ``lang`` (argparse's own words too when built and
    used inside ``i18n.argparse_speaking(lang)``); ``with_train`` imports the train
    sub-command's own arguments."""
    from .expr import FUNCTIONS

    _ = translator(lang)
    parser = _Parser(
        prog="circuitgrad", translate=_,
        description=_("Reverse-mode gradients of NumPy code, computed and shown as the CS231n "
                      "backprop notes draw them: a circuit of gates, values forward, "
                      "gradients backward."),
        epilog=_("Run 'circuitgrad COMMAND --help' for a command's options. Exit status: 0 "
                 "ok, 1 a gradient check failed or a picture could not be made, 2 bad input."))
    parser.add_argument("--version", action="version", version=f"circuitgrad {__version__}",
                        help=_("show circuitgrad's version number and exit"))
    commands = parser.add_subparsers(dest="command", metavar="COMMAND",
                                     parser_class=functools.partial(_Parser, translate=_))

    functions = fill(", ".join(sorted(FUNCTIONS)), 79, indent="  ")
    grad = commands.add_parser(
        "grad", help=_("value, gradients and staged forward/backward pass of an expression"),
        description=fill(_(
            "Evaluate EXPR at the given inputs, back-propagate, and print the value, each "
            "input's gradient, and the staged computation: the forward pass one gate per "
            "line, then the backward pass in reverse, one local-gradient step per line, with "
            "+= where a wire forks.")),
        epilog=_("examples:") + "\n" + _GRAD_EXAMPLES + "\n" + _(
            "expressions: numbers, input names, + - * / ** @, parentheses, name := expr to "
            "name the\nresult or an intermediate, indexing with whole numbers (w[0], W[:, 1]), "
            "and the functions\n{functions}\n(max(a, b) and min(a, b) compare two inputs; "
            "max(x), sum(x, axis=0), mean(x) reduce one).\na / b is staged as a * (1 / b), "
            "the notes' 1/x gate. Values are numbers or nested lists.\n").format(
                functions=functions),
        formatter_class=_RawDescriptionFormatter)
    grad.add_argument("expr", metavar="EXPR",
                      help=_("the expression, e.g. \"(x + y) * z\" (- reads it from standard "
                             "input)"))
    grad.add_argument("inputs", metavar="NAME=VALUE", nargs="*",
                      help=_("an input's value: a number (x=3) or a nested list "
                             "(W=\"[[1,2],[3,4]]\")"))
    grad.add_argument("--svg", metavar="FILE", help=_("write the circuit's picture as SVG"))
    grad.add_argument("--png", metavar="FILE", help=_("write the circuit's picture as PNG"))
    grad.add_argument("--check", action="store_true",
                      help=_("compare each gradient with central differences (exit 1 if off)"))
    grad.add_argument("--upstream", metavar="VALUE",
                      help=_("the gradient of the output when it is not a single number "
                             "(default: required for such outputs)"))
    grad.add_argument("--no-staged", action="store_true",
                      help=_("print only the value and the gradients"))
    grad.add_argument("--html", metavar="FILE",
                      help=_("write the circuit lab's page for this circuit: one "
                             "self-contained file that steps through it, no server needed"))
    _add_lang(grad, _("language of the messages and the --html page (default: from the "
                      "locale, LANG)"))

    lab = commands.add_parser(
        "lab", help=_("the circuit lab: step through a circuit's forward and backward pass "
                      "in the browser"),
        description=_("Start the circuit lab, a local web page (served on 127.0.0.1 only) "
                      "that draws the circuit of any expression and steps through its "
                      "forward and backward pass gate by gate, with the notes' worked "
                      "examples as lessons, in English and Chinese. Stop it with Ctrl+C."))
    lab.add_argument("--port", type=int, default=0,
                     help=_("the port to listen on (default: a free one)"))
    lab.add_argument("--no-browser", action="store_true", help=_("do not open a browser"))
    from .lab.server import MEMORY_LIMIT, TIME_LIMIT
    lab.add_argument("--time-limit", metavar="SECONDS", type=positive_number(_),
                     default=TIME_LIMIT,
                     help=_("seconds a request's computation may take (default: {seconds:g})"
                            ).format(seconds=TIME_LIMIT))
    lab.add_argument("--memory-limit", metavar="MB", type=positive_number(_),
                     default=MEMORY_LIMIT,
                     help=_("megabytes of memory a request's computation may take, beyond "
                            "what its worker process holds when it starts (default: "
                            "{megabytes}; Linux only)").format(megabytes=MEMORY_LIMIT))
    _add_lang(lab, _("language of the page at start and the messages (default: from the "
                     "locale, LANG)"))

    demo = commands.add_parser(
        "demo", help=_("every worked example of the notes, checked, with pictures"),
        description=_("Walk through every worked example of the CS231n backprop notes in "
                      "order: print each gate's forward value and gradient as a staged "
                      "listing, check every gradient against central differences and the "
                      "notes' own numbers, and write each circuit's picture (SVG and PNG) to "
                      "a folder. Exits 1 if any check fails."))
    demo.add_argument("--out", metavar="DIR", default="circuitgrad-demo",
                      help=_("folder for the pictures (default: ./circuitgrad-demo)"))
    demo.add_argument("--no-pictures", action="store_true", help=_("skip the pictures"))
    _add_lang(demo, _("language of the walk-through (default: from the locale, LANG)"))

    train = commands.add_parser(
        "train", help=_("train a network on data (see circuitgrad train --help)"),
        description=_("Train a neural network built from circuitgrad's layers."))
    if with_train:
        _train_module().add_arguments(train)
        _add_lang(train, _("language of the messages (default: from the locale, LANG)"))
    return parser


def _train_module():
    try:
        from .nn import train as _train
    except ImportError as err:
        raise _TrainMissing(err) from None
    return _train


class _TrainMissing(Exception):
    pass


def main(argv=None):
    """Run the command line; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    lang = _lang_of(argv)
    try:
        with argparse_speaking(lang):  # argparse's words (usage:, its errors) in lang
            parser = build_parser(with_train=command == "train", lang=lang)
            args = parser.parse_args(argv)
    except _TrainMissing as err:
        _ = translator(lang)
        cause = err.args[0]
        missing = getattr(cause, "name", None) or ""
        hint = "" if missing.startswith("circuitgrad") else \
            _("; install its dependencies with: pip install 'circuitgrad[train]'")
        print(_("circuitgrad train: error: training is not available: cannot import "
                "circuitgrad.nn.train ({cause}){hint}").format(cause=cause, hint=hint),
              file=sys.stderr)
        return EXIT_BAD_INPUT
    lang = getattr(args, "lang", None) or lang
    _ = translator(lang)
    try:
        if args.command == "grad":
            return run_grad(args, lang)
        if args.command == "lab":
            return run_lab(args, lang)
        if args.command == "demo":
            from .notes_examples import run_demo
            problem = None if args.no_pictures else out_dir_problem(args.out)
            if problem:
                return _fail("demo", "--out: " + render(problem, _), _)
            try:
                return run_demo(args.out, pictures=not args.no_pictures, lang=lang)
            except BrokenPipeError:  # the reader stopped (| head): not a picture's fault
                return EXIT_OK
            except OSError as err:  # a picture that cannot be written after all
                return _fail("demo", _("--out: cannot write in {folder}: {error}").format(
                    folder=args.out, error=err), _)
        if args.command == "train":
            return _train_module().run(args)
        parser.print_help()
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK


def _fail(command, message, _, status=EXIT_BAD_INPUT):
    """Print the one-line error ``message`` (a string or a ``msg``) in the language of
    ``_``; returns ``status``."""
    print(_("circuitgrad {command}: error: {message}").format(
        command=command, message=render(message, _)), file=sys.stderr)
    return status


def run_grad(args, lang="en"):
    """``circuitgrad grad``: the value, gradients and staged listing of an expression."""
    from .draw import DrawError
    from .expr import ExprError, parse, parse_assignment, parse_value
    from .i18n import msg

    _ = translator(lang)
    try:
        text = args.expr
        if text == "-":
            text = sys.stdin.read()
        expr = parse(text)
        values = {}
        for item in args.inputs:
            name, value = parse_assignment(item)
            if name in values:
                raise ExprError(msg("input '{name}' is given twice", name=name))
            values[name] = value
        expr.check_inputs(values)
        upstream = None
        if args.upstream is not None:
            try:
                upstream = parse_value(args.upstream)
            except ExprError as err:
                raise ExprError(msg("--upstream: {error}", error=err.message)) from None
        y = expr.evaluate(values)
        if not expr.names:
            raise ExprError(msg("the expression has no inputs, so there is nothing to "
                                "differentiate; use names, as in: circuitgrad grad \"x * y\" "
                                "x=4 y=-3"))
        report = compute(expr, y, upstream)
    except ExprError as err:
        return _fail("grad", err, _)
    except DrawError as err:  # a listing of a circuit too large, or similar
        return _fail("grad", err, _)

    page = None
    if args.html:
        from .lab.data import from_report
        from .lab.page import page as lab_page
        try:
            data = from_report(report, text, {n: v for n, _, v in
                                              (i.partition("=") for i in args.inputs)},
                               args.upstream)
        except ExprError as err:
            return _fail("grad", "--html: " + render(err, _), _)
        page = lab_page(lang=lang, data=data)

    picture = None
    if args.svg or args.png:
        try:
            picture = picture_for(report, _)  # a circuit too big to draw: refused up front
        except DrawError as err:
            return _fail("grad", err, _)
    print("\n".join(report.lines(staged=not args.no_staged, _=_)))
    status = EXIT_OK
    if args.check:
        status = max(status, _check(expr, values, upstream, _))
    for path, fmt in ((args.svg, "svg"), (args.png, "png")):
        if path:
            status = max(status, _save_picture(picture, path, fmt, _))
    if page is not None:
        try:
            with open(args.html, "w", encoding="utf-8") as out:
                out.write(page)
        except OSError as err:
            return _fail("grad", _("cannot write {path}: {error}").format(
                path=args.html, error=err.strerror or err), _)
        print(_("wrote {path}").format(path=args.html))
    return status


def run_lab(args, lang="en"):
    """``circuitgrad lab``: serve the lab on 127.0.0.1 until Ctrl+C."""
    import webbrowser

    from .lab.server import LabServer

    _ = translator(lang)
    if not 0 <= args.port <= 65535:
        return _fail("lab", _("--port must be between 0 and 65535"), _)
    try:
        server = LabServer(args.port, lang, time_limit=args.time_limit,
                           memory_limit=args.memory_limit)
    except OSError as err:
        return _fail("lab", _("cannot listen on 127.0.0.1 port {port}: {error}").format(
            port=args.port, error=err.strerror or err), _)
    print(_("The circuit lab is at {url}").format(url=server.url), flush=True)
    print(_("Press Ctrl+C to stop."), flush=True)
    if not args.no_browser:
        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return EXIT_OK


def _check(expr, values, upstream, _):
    from .expr import ExprError, parse
    from .gradcheck import check_grad

    fresh = parse(expr.text)  # a second evaluator, so the first keeps its inputs
    names = list(fresh.names)
    project = None if upstream is None else np.asarray(upstream)

    def f(*ts):
        out = fresh.evaluate(dict(zip(names, ts, strict=True)))
        return out if project is None else (out * project).sum()

    big = sum(np.size(values[n]) for n in names) > 2000
    try:
        report = check_grad(f, *[values[n] for n in names], directions=20 if big else None)
    except ExprError as err:
        return _fail("grad", _("the gradient check could not run: {error}").format(
            error=render(err, _)), _, EXIT_FAILED)
    print()
    print(_("gradient check (central differences, float64):"))
    for name, r in zip(names, report.inputs, strict=True):
        verdict = _("ok") if r.ok else _("MISMATCH")
        print("  " + _("d/d{name}: max relative error {error}  {verdict}").format(
            name=name, error=f"{r.max_rel_error:.1e}", verdict=verdict))
    return EXIT_OK if report.ok else EXIT_FAILED


def _save_picture(picture, path, fmt, _):
    import warnings

    from .draw import DrawError, glyphs

    lacking = picture.missing_glyphs() if fmt == "png" else []
    if lacking:  # said once, in the learner's language, instead of Python's warning
        print(_("circuitgrad grad: warning: {message}").format(
            message=render(glyphs.missing_message(lacking), _)), file=sys.stderr)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", glyphs.MissingGlyphWarning)
            picture.save(path, format=fmt)
    except DrawError as err:
        return _fail("grad", err, _, EXIT_FAILED)
    except OSError as err:
        return _fail("grad", _("cannot write {path}: {error}").format(
            path=path, error=err.strerror or err), _)
    print(_("wrote {path}").format(path=path))
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

