"""The layers of /work/shared/DESIGN.md, checked: modules import downward only, no cycles.

Every module of src/circuitgrad is read with ``ast`` (not imported), so every import
counts: top-level ones and those written inside functions ("late imports"), which still
tie the two modules together. Relative imports are resolved to module names, and an
import of a package means its ``__init__``. Names here are dotted and relative to the
package: ``nn.train`` is src/circuitgrad/nn/train.py, ``nn`` is nn/__init__.py, and
``__init__`` is the package's own front door.
"""

import ast
import functools
from pathlib import Path

PACKAGE = "circuitgrad"
SRC = Path(__file__).resolve().parent.parent / "src" / PACKAGE

FRONT_DOOR = 7  # above every layer: it may import anything, and nothing may import it

# Layer of every module (issue 9, point 3). A new module must be put here by hand, so that
# somebody decides where it belongs.
LAYERS = {
    0: ["errors", "backend", "compiled", "_version", "i18n"],
    1: ["core", "core.backward", "core.gate", "core.graph", "core.node", "core.trace",
        "core.tree", "core.circuit", "core.anomaly", "core.saved"],
    2: ["gates", "gates.elementwise", "gates.indexing", "gates.linalg", "gates.nn",
        "gates.reduce", "gates.shape", "gates.define", "gates.listing", "gates.table",
        "gates.failures"],
    3: ["tensor"],
    4: ["functions", "linalg", "numpy_api", "transforms", "custom", "gradcheck", "tracing"],
    # views and nn: read circuits, build on the user API
    5: ["staged", "draw", "draw.circuit", "draw.dot", "draw.format", "draw.picture",
        "draw.render", "draw.glyphs", "nn", "nn.data", "nn.functional", "nn.init", "nn.layers",
        "nn.losses", "nn.module", "nn.optim", "nn.training", "nn.utils", "supported",
        "compiler", "compiler.staging", "compiler.steps", "compiler.inplace", "compiler.kernels",
        "compiler.stateful", "compiler.buffers", "compiler.passes", "compiler.updates"],
    # applications; nn.train is the `circuitgrad train` command, not part of the library
    6: ["cli", "__main__", "expr", "notes_examples", "nn.train", "report", "outdir",
        # the circuit lab: the `circuitgrad lab` server and its page's data
        "lab", "lab.data", "lab.server", "lab.worker", "lab.page", "lab.lessons", "lab.i18n",
        "lab.notebook", "lab.widget"],
    FRONT_DOOR: ["__init__"],
}
LAYER_OF = {module: layer for layer, modules in LAYERS.items() for module in modules}

# Imports that still break the rule (in L1-L4 only); each
# entry is (importer, imported). The list may only shrink: the test fails when an entry no
# longer occurs, so that whoever removes a violation also deletes its line here. Nothing in
# L5 or L6 may be added.
KNOWN_VIOLATIONS = set()  # none left; an entry would need a comment saying why


def _module_name(path):
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts == ["__init__"]:
        return "__init__"
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _files():
    return {_module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def _package_of(module, path):
    """The package a module's relative imports start from (as a dotted name, "" = top)."""
    if path.name == "__init__.py":
        return "" if module == "__init__" else module
    return module.rpartition(".")[0]


def _resolve(dotted):
    """A dotted name inside the package as a module name ("" is the front door)."""
    return "__init__" if dotted == "" else dotted


def imports_of(module, path, known):
    """[(imported module, line)] for every import of the package in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                name = alias.name
                if name == PACKAGE or name.startswith(PACKAGE + "."):
                    found.append((_resolve(name[len(PACKAGE) + 1:]), node.lineno))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = _package_of(module, path)
                base = package.split(".") if package else []
                if node.level - 1 > len(base):
                    raise AssertionError(f"{path}:{node.lineno}: relative import goes above "
                                         f"the package")
                base = base[:len(base) - (node.level - 1)]
                if node.module:
                    base += node.module.split(".")
                base = ".".join(base)
            elif node.module == PACKAGE or (node.module or "").startswith(PACKAGE + "."):
                base = node.module[len(PACKAGE) + 1:]
            else:
                continue  # another library
            for alias in node.names:
                # `from pkg import name`: a submodule if there is one, else pkg itself
                sub = f"{base}.{alias.name}" if base else alias.name
                target = sub if alias.name != "*" and sub in known else base
                found.append((_resolve(target), node.lineno))
    return sorted(set(found), key=lambda item: (item[1], item[0]))


@functools.cache
def import_graph():
    """{importer: [(imported, line), ...]} over every module of the package."""
    files = _files()
    return {m: imports_of(m, p, files) for m, p in files.items()}, files


def _layer_text(module):
    layer = LAYER_OF[module]
    return "front door" if layer == FRONT_DOOR else f"L{layer}"


def _where(files, module, line):
    return f"{files[module].relative_to(SRC.parent.parent)}:{line}"


def upward_imports(graph):
    """[(importer, imported, line)] where the imported module sits in a higher layer."""
    return [(a, b, line) for a, edges in graph.items() for b, line in edges
            if a in LAYER_OF and b in LAYER_OF and LAYER_OF[b] > LAYER_OF[a]]


def cycles(edges):
    """Every elementary cycle of the directed graph {node: set(successors)}, each as a
    list of its nodes starting at its smallest (sorted) node."""
    found = []

    def walk(start, allowed, node, path, on_path):
        for nxt in sorted(edges.get(node, ())):
            if nxt == start:
                found.append(list(path))
            elif nxt in allowed and nxt not in on_path:
                on_path.add(nxt)
                path.append(nxt)
                walk(start, allowed, nxt, path, on_path)
                path.pop()
                on_path.discard(nxt)

    order = sorted(edges)
    for i, start in enumerate(order):
        # only nodes after start: a cycle through an earlier node was found from that node
        walk(start, set(order[i:]), start, [start], {start})
    return found


def test_every_module_is_in_a_layer():
    graph, files = import_graph()
    missing = [f"put {m} ({files[m].relative_to(SRC.parent.parent)}) in a layer"
               for m in files if m not in LAYER_OF]
    unknown = [f"{_where(files, a, line)}: {a} imports {PACKAGE}.{b}, which is no module "
               f"of the package" for a, edges in graph.items() for b, line in edges
               if b not in files]
    gone = [f"{m} is in LAYERS but there is no such module; remove it"
            for m in LAYER_OF if m not in files]
    assert not missing + unknown + gone, "\n".join(missing + unknown + gone)


def test_imports_point_downward():
    graph, files = import_graph()
    bad = [f"{_where(files, a, line)}: {a} ({_layer_text(a)}) imports {b} ({_layer_text(b)})"
           for a, b, line in upward_imports(graph) if (a, b) not in KNOWN_VIOLATIONS]
    assert not bad, ("upward imports (a module may import only from its own layer or below; "
                     "move the shared code down instead):\n" + "\n".join(bad))


def test_no_import_cycles():
    graph, files = import_graph()
    # The allowlisted imports are left out: each of them closes a known cycle.
    edges = {a: {b for b, _ in e if (a, b) not in KNOWN_VIOLATIONS} for a, e in graph.items()}
    found = cycles(edges)
    text = [" -> ".join(c + [c[0]]) for c in found[:50]]
    if len(found) > 50:
        text.append(f"... and {len(found) - 50} more")
    assert not found, "import cycles (late imports count too):\n" + "\n".join(text)


def test_known_violations_still_occur():
    graph, _ = import_graph()
    present = {(a, b) for a, edges in graph.items() for b, _ in edges}
    upward = {(a, b) for a, b, _ in upward_imports(graph)}
    # an allowlisted pair that imports downward must at least close a cycle
    edges = {a: {b for b, _ in e} for a, e in graph.items()}

    def reaches(src, dst):
        seen, todo = set(), [src]
        while todo:
            node = todo.pop()
            if node == dst:
                return True
            if node not in seen:
                seen.add(node)
                todo.extend(edges.get(node, ()))
        return False

    stale = sorted(pair for pair in KNOWN_VIOLATIONS if pair not in present or
                   (pair not in upward and not reaches(pair[1], pair[0])))
    assert not stale, ("fixed, so delete from KNOWN_VIOLATIONS (the list only shrinks): "
                       + ", ".join(map(str, stale)))
    outside = sorted(p for p in KNOWN_VIOLATIONS if LAYER_OF.get(p[0]) not in (1, 2, 3, 4))
    assert not outside, f"KNOWN_VIOLATIONS is for L1-L4 only: {outside}"


def test_the_reader_resolves_relative_and_late_imports(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    for name in ("__init__.py", "a.py", "sub/__init__.py", "sub/b.py"):
        (pkg / name).write_text("")
    (pkg / "sub" / "b.py").write_text(
        "import numpy\n"
        "from .. import a\n"
        "from . import helper_name\n"
        "def f():\n"
        "    from ..a import thing\n"
        "    import circuitgrad.sub.b\n"
        "    from circuitgrad import sub\n")
    known = {"__init__", "a", "sub", "sub.b"}
    got = imports_of("sub.b", pkg / "sub" / "b.py", known)
    assert got == [("a", 2), ("sub", 3), ("a", 5), ("sub.b", 6), ("sub", 7)]
    assert cycles({"x": {"y"}, "y": {"x", "z"}, "z": {"x"}}) == [["x", "y"], ["x", "y", "z"]]
