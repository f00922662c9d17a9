# Compiled core (see setup.py): the walks know their locals are Wires (C struct fields).
cimport cython

from .gate cimport Gate
from .node cimport Wire


@cython.locals(t=Wire, x=Wire, gate=Gate, deps=Py_ssize_t, i=Py_ssize_t, unary=bint)
cpdef dict _walk_plain(list roots, stop, bint retain_graph, set handed_out)

@cython.locals(t=Wire, x=Wire, gate=Gate, deps=Py_ssize_t, i=Py_ssize_t)
cpdef dict _walk(list roots, stop, wrt, every, bint retain_graph, bint create_graph,
                 set handed_out)

@cython.locals(t=Wire, x=Wire, r=Wire, outside=bint)
cpdef bint _count_consumers(list roots, stop, list saved=*)

@cython.locals(w=Wire)
cdef _value_of(x)

@cython.locals(x=Wire)
cdef _twice(a, Gate gate, g, out, av, push)

@cython.locals(w=Wire)
cdef _restore(list saved)
