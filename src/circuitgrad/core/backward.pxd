# Compiled core (see setup.py): the walk knows its locals are Wires (C struct fields).
cimport cython

from .gate cimport Gate
from .node cimport Node, Wire, versions_read

cdef Py_ssize_t _WALKED
cdef bint _checking
cdef object _checked, _checked_g


@cython.locals(t=Wire, gate=Gate, i=Py_ssize_t, keep_below=Py_ssize_t, owned=dict)
cpdef dict _walk(list roots, stop, bint store, every, bint retain_graph, bint create_graph,
                 set handed_out, bint keep)

@cython.locals(w=Wire, deps=Py_ssize_t)
cdef _send(Wire x, gi, Gate gate, Py_ssize_t i, list ready)

@cython.locals(w=Wire, deps=Py_ssize_t)
cdef bint _add_into(Wire x, g, add, dict params, list ready, dict owned) except -1

cdef _input(Wire t, Py_ssize_t i)

@cython.locals(w=Wire)
cdef _argument(x, bint create_graph)

@cython.locals(n=Node)
cdef _release(Wire t, Py_ssize_t keep_below, dict released_leaves)

@cython.locals(w=Wire)
cdef _let_go(x, Py_ssize_t keep_below, dict released_leaves)

@cython.locals(t=Wire, x=Wire, r=Wire, outside=bint, gates=Py_ssize_t)
cpdef bint _count_consumers(list roots, stop, list saved=*)

@cython.locals(w=Wire)
cdef _restore(list saved)
