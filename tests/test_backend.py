"""The array seam (issue 9, point 4): only backend.py makes arrays from nothing or tests
array types; every other module goes through it.

Every module of src/circuitgrad is read with ``ast`` (not imported), so a call inside a
function that no test reaches still counts. Docstrings are strings, not code, so their
examples (``>>> np.zeros(3)``) are free to use NumPy directly.
"""

import ast
import sys
from pathlib import Path

import numpy as np
import pytest

import circuitgrad as cg
from circuitgrad import backend

SRC = Path(__file__).resolve().parent.parent / "src" / "circuitgrad"
SEAM = SRC / "backend.py"

# NumPy names that only backend.py may use, with why. A name here covers every reference,
# not just calls, so that `make = np.zeros` or `_nd = np.ndarray` cannot slip past.
CONSTRUCTORS = {"zeros", "ones", "empty", "full", "arange", "eye", "linspace", "identity",
                "tri", "zeros_like", "ones_like", "empty_like", "full_like"}
FORBIDDEN = {
    **{f"numpy.{name}": "constructs an array (use backend." + name + ")"
       for name in CONSTRUCTORS},
    "numpy.add.at": "np.add.at is NumPy's own (use backend.add_at)",
    "numpy.ndarray": "tests or builds the array type (use backend.ndarray / is_array)",
    "numpy.generic": "tests NumPy's scalar types (use backend.generic)",
    "numpy.random": "random generators make arrays (use backend.default_rng)",
    "numpy.lib.stride_tricks": "stride tricks are NumPy's own (use backend's)",
}


def _numpy_names(tree):
    """{local name: dotted NumPy name} for every way the module binds NumPy or its parts."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "numpy" or alias.name.startswith("numpy."):
                    if alias.asname:
                        names[alias.asname] = alias.name
                    else:
                        names["numpy"] = "numpy"  # `import numpy.x` binds `numpy`
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module and (
                node.module == "numpy" or node.module.startswith("numpy.")):
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _dotted(node, numpy_names):
    """The NumPy name an expression ``a.b.c`` refers to, or None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in numpy_names:
        return None
    return ".".join([numpy_names[node.id], *reversed(parts)])


def _forbidden(dotted):
    for name, why in FORBIDDEN.items():
        if dotted == name or dotted.startswith(name + "."):
            return why
    return None


def violations(source, filename="<source>"):
    """[(line, what)] for every use of a name in FORBIDDEN in ``source``."""
    tree = ast.parse(source, filename=filename)
    numpy_names = _numpy_names(tree)
    # Keys of a dict literal name NumPy functions to intercept (numpy_api's dispatch
    # table maps np.full_like to its handler); naming one there constructs nothing.
    keys = {id(k) for node in ast.walk(tree) if isinstance(node, ast.Dict)
            for k in node.keys if k is not None}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                dotted = f"{node.module}.{alias.name}"
                why = not node.level and node.module and _forbidden(dotted)
                if why:
                    found.append((node.lineno, f"imports {dotted}: {why}"))
        # only the outermost name of a chain: np.add.at, not also np.add
        if isinstance(node, ast.Attribute | ast.Name) and id(node) not in keys:
            dotted = _dotted(node, numpy_names)
            why = dotted and _forbidden(dotted)
            if why and not _forbidden_inner(node, numpy_names):
                found.append((node.lineno, f"{dotted}: {why}"))
    return sorted(set(found))


def _forbidden_inner(node, numpy_names):
    """Whether a shorter prefix of this chain is already forbidden (report it once)."""
    inner = node.value if isinstance(node, ast.Attribute) else None
    return inner is not None and bool(_forbidden(_dotted(inner, numpy_names) or ""))


def test_no_module_but_backend_makes_or_tests_arrays():
    problems = []
    for path in sorted(SRC.rglob("*.py")):
        if path == SEAM:
            continue
        text = path.read_text(encoding="utf-8")
        for line, what in violations(text, str(path)):
            problems.append(f"{path.relative_to(SRC.parent.parent)}:{line}: {what}")
    if problems:
        pytest.fail("only backend.py may make arrays from nothing or test array types:\n"
                    + "\n".join(problems), pytrace=False)


@pytest.mark.parametrize("code", [
    "import numpy as np\nz = np.zeros(3)",
    "import numpy as np\nz = np.empty_like(x)",
    "import numpy as np\nmake = np.ones if a else np.full",
    "import numpy as np\nnp.add.at(z, i, g)",
    "import numpy as np\nok = isinstance(x, np.ndarray)",
    "import numpy as np\nok = type(x) is np.ndarray",
    "import numpy as np\nok = isinstance(x, (np.ndarray, np.generic))",
    "import numpy as np\nv = np.ndarray((2,), float, buffer=b)",
    "import numpy as np\nrng = np.random.default_rng(0)",
    "import numpy as np\nw = np.lib.stride_tricks.sliding_window_view(x, 2)",
    "from numpy.lib.stride_tricks import sliding_window_view",
    "from numpy import zeros",
    "import numpy\nz = numpy.arange(3)",
    "import numpy as xp\ndef f():\n    return xp.eye(2)",
])
def test_the_check_catches(code):
    assert violations(code), code


@pytest.mark.parametrize("code", [
    "import numpy as np\ny = np.exp(x) + np.where(m, x, 0)",
    "import numpy as np\ny = np.asarray(x).sum()",
    "import numpy as np\nHANDLERS = {np.full_like: handler}",   # a dispatch table's key
    'def f():\n    """>>> np.zeros(3)"""',                       # a docstring example
    "from . import backend\nz = backend.zeros(3)",
])
def test_the_check_allows(code):
    assert not violations(code), code


def test_backend_imports_only_numpy_and_the_standard_library():
    tree = ast.parse(SEAM.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots = [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert not node.level, f"backend.py:{node.lineno}: imports circuitgrad"
            roots = [node.module.split(".")[0]]
        else:
            continue
        for root in roots:
            assert root == "numpy" or root in sys.stdlib_module_names, \
                f"backend.py:{node.lineno}: imports {root}"


# ----- the helpers that do more than rename a NumPy function ---------------------------------
def test_is_array():
    assert backend.is_array(np.zeros(2)) and backend.is_array(np.array(1.0))
    assert not backend.is_array(np.float64(1.0))  # a NumPy scalar is not an array
    assert not backend.is_array([1.0, 2.0])
    assert not backend.is_array(cg.tensor([1.0, 2.0]))


def test_add_at_adds_every_repeat():
    z = np.zeros(3)
    backend.add_at(z, np.array([0, 2, 2, 2]), 1.0)
    assert z.tolist() == [1.0, 0.0, 3.0]
    z = np.zeros((2, 2))
    backend.add_at(z, (np.array([1, 1]), np.array([0, 0])), np.array([2.0, 5.0]))
    assert z.tolist() == [[0.0, 0.0], [7.0, 0.0]]


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.bool_, np.complex128])
def test_zero_stride(dtype):
    a = backend.zero_stride((1000, 30), dtype)
    assert a.shape == (1000, 30) and a.dtype == dtype
    assert a.strides == (0, 0) and not a.flags.writeable
    assert not a.any()
    with pytest.raises(ValueError):
        a[0, 0] = 1
    assert backend.zero_stride((), dtype).shape == ()
