"""The compiler: staged NumPy code from a traced circuit.

- ``staging``: ``cg.explain(f)`` writes ``f``'s forward and backward pass as staged code;
  ``compile`` of a loss or gradient function runs that code;
- ``steps``: ``cg.compile(step, argnums=None)`` compiles a whole training step (its
  ``value_and_grad`` or ``backward()``, and the optimizer's update), and is ``cg.compile``;
- ``inplace``: the rewrites a person would make by hand (``out=`` buffers, the fused
  softmax cross-entropy) applied to the step code.
"""

from .staging import explain, tracing
from .steps import compile  # noqa: A004 -- cg.compile

__all__ = ["compile", "explain", "tracing"]
