"""The compiler: staged NumPy code from a traced circuit.

- ``staging``: ``cg.explain(f)`` writes ``f``'s forward and backward pass as staged code;
  ``compile`` of a loss or gradient function runs that code;
- ``steps``: ``cg.compile(step, argnums=None)`` compiles a whole training step (its
  ``value_and_grad`` or ``backward()``, and the optimizer's update), and is ``cg.compile``;
- ``passes``: passes over the traced circuit before code is written (common
  subexpressions, constant folding), chosen with ``cg.compile(..., passes=...)``;
- ``inplace``: the rewrites a person would make by hand (``out=`` into a buffer the code
  owns at its last use, the fused softmax cross-entropy) applied to the step code;
- ``buffers``: a step's new arrays written into buffers kept from call to call, reused only
  when nothing outside holds them (a result the caller kept is never overwritten);
- ``updates``: an SGD optimizer's ``step()`` replayed with a scratch array for ``lr * g``.
"""

from .staging import explain, tracing
from .steps import compile  # noqa: A004 -- cg.compile

__all__ = ["compile", "explain", "tracing"]
