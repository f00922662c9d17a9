"""The docs' table of primitive gates, written from their definitions.

``python -m circuitgrad.gates.table > docs/gates.md`` rewrites it; a test checks the file
matches, so the table never drifts from the gates.
"""

from . import FAMILIES, all_gates
from .elementwise import SCIPY_SPECIAL


def numpy_name(fn):
    module = getattr(fn, "__module__", None) or "numpy"
    module = "np" + module[len("numpy"):] if module.startswith("numpy") else module
    return f"`{module.replace('np._core.fromnumeric', 'np')}.{fn.__name__}`"


def _family(gate):
    for family in FAMILIES:
        if any(obj is gate for obj in vars(family).values()):
            return family.__name__.rsplit(".", 1)[-1]
    return "?"


def markdown():
    """The table as Markdown: one row per gate."""
    lines = [
        "# Primitive gates",
        "",
        "Written from the gates' definitions by `python -m circuitgrad.gates.table`; do not",
        "edit by hand. Every other function of circuitgrad is composed of these gates, so its",
        "gradient comes from theirs. *Local derivative* is the formula the gate's rules and",
        "its staged-listing line are both made from (`x`, `y`: the inputs, `out`: the",
        "output); gates without one write their rules out beside their listing text.",
        "",
        "| gate | family | circuitgrad | NumPy | local derivative | caveats |",
        "|---|---|---|---|---|---|",
    ]
    for gate in all_gates():
        api = f"`cg.{gate.api}`" if gate.api else ""
        numpy = ", ".join(numpy_name(fn) for fn in gate.numpy)
        local = "; ".join(f"d/d{n}: `{d}`" for n, d in zip("xy", gate.local, strict=False)) \
            if gate.local else "written out"
        lines.append(f"| {gate.name} | {_family(gate)} | {api} | {numpy} | {local} | "
                     f"{' '.join(gate.caveats)} |")
    scipy = ", ".join(f"`{name}` ({gate.name})" for name, gate in SCIPY_SPECIAL.items())
    lines += ["", f"scipy.special's ufuncs reach gates too, when scipy is loaded: {scipy}.",
              "", "The NumPy functions composed of these gates, with their caveats, are in",
              "[numpy.md](numpy.md)."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
