# Compiled core (see setup.py): Tensor is a C type, and the fast paths of the operators
# know their locals are Tensors.
cimport cython

from .core.gate cimport Gate
from .core.node cimport Wire, cg_gc_is_tracked, cg_gc_untrack
from .core.trace cimport _Switches

cdef _Switches switches
cdef bint _COMPILED


cdef class Tensor(Wire):
    pass


@cython.locals(ta=Tensor, tb=Tensor, t=Tensor, ga=bint, gb=bint, seen=Py_ssize_t)
cpdef _binary(Gate gate, a, b)

@cython.locals(ta=Tensor, t=Tensor)
cpdef _unary(Gate gate, a)

@cython.locals(ta=Tensor, tb=Tensor)
cdef _hide(Tensor t, a, b)

@cython.locals(t=Tensor)
cpdef Tensor _wrap(value)

@cython.locals(t=Tensor)
cpdef apply(Gate gate, inputs, params=*)
