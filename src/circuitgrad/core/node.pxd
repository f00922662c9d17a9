# Compiled core (see setup.py): Wire's slots become C struct fields, so the forward fast
# paths and the backward walk read and write them without a dictionary or descriptor lookup.

cimport cython

# The cyclic garbage collector's per-object switch (see keep_tracked in node.py).
cdef extern from *:
    """
    #define cg_gc_untrack(o) PyObject_GC_UnTrack(o)
    #define cg_gc_is_tracked(o) PyObject_GC_IsTracked(o)
    #define cg_gc_track(o) PyObject_GC_Track(o)
    """
    void cg_gc_untrack(object o)
    bint cg_gc_is_tracked(object o)
    void cg_gc_track(object o)

cdef bint _COMPILED


# Freeing a long chain of wires nests one deallocation per link; the trashcan defers
# them, as Python does for its own containers, so a million-gate chain frees safely.
@cython.trashcan(True)
cdef class Wire:
    cdef public object _value, _node, _gate, _a, _b, _more, _params, _edges
    cdef public object _acc, _epoch, _meta
    cdef public bint requires_grad
    cdef public Py_ssize_t _deps, _version, _seen
    cdef object __weakref__


cdef class Node(Wire):
    cdef public bint _released, _overwritten
    cdef public object name


@cython.locals(w=Wire)
cpdef keep_tracked(x)


@cython.locals(w=Wire, total=Py_ssize_t)
cpdef Py_ssize_t versions_read(a, b, more)
