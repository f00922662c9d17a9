"""Nested containers of values ("trees"): tuples, lists and dicts, flattened and rebuilt.

Transforms accept model parameters as a dict, or any nesting of tuples, lists and dicts;
everything else is a leaf.
"""


class TreeDef:
    """The shape of a tree without its leaves: enough to rebuild it."""

    __slots__ = ("kind", "keys", "children")

    def __init__(self, kind, keys=None, children=()):
        self.kind = kind          # "leaf", tuple, list or dict
        self.keys = keys
        self.children = children

    @property
    def num_leaves(self):
        if self.kind == "leaf":
            return 1
        return sum(c.num_leaves for c in self.children)


def flatten(tree):
    """``(leaves, treedef)`` of a nested structure.

    >>> leaves, spec = flatten({"W": 1, "b": (2, 3)})
    >>> leaves, unflatten(spec, [10, 20, 30])
    ([1, 2, 3], {'W': 10, 'b': (20, 30)})
    """
    leaves = []
    return leaves, _flatten(tree, leaves)


def _flatten(tree, leaves):
    if isinstance(tree, dict):
        keys = list(tree)
        return TreeDef(dict, keys, tuple(_flatten(tree[k], leaves) for k in keys))
    if isinstance(tree, (tuple, list)) and not hasattr(tree, "_fields"):
        return TreeDef(type(tree), None, tuple(_flatten(v, leaves) for v in tree))
    leaves.append(tree)
    return TreeDef("leaf")


def unflatten(treedef, leaves):
    """Rebuild a tree of ``treedef``'s shape from ``leaves`` (in flatten's order)."""
    it = iter(leaves)
    tree = _build(treedef, it)
    rest = list(it)
    if rest:
        raise ValueError(f"{len(rest)} leaves too many for this tree")
    return tree


def _build(treedef, it):
    if treedef.kind == "leaf":
        return next(it)
    children = [_build(c, it) for c in treedef.children]
    if treedef.kind is dict:
        return dict(zip(treedef.keys, children, strict=True))
    return treedef.kind(children)


def tree_map(fn, tree):
    leaves, treedef = flatten(tree)
    return unflatten(treedef, [fn(x) for x in leaves])
