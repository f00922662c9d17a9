"""Helpers shared by the tests of pictures and of the circuitgrad command."""


def four(v):
    """4 significant digits, trailing zeros kept: how pictures and listings write numbers."""
    v = float(v)
    if v == 0:
        return "0.000"
    s = f"{v:#.4g}"
    return s[:-1] if s.endswith(".") else s
