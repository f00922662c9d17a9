# Compiled core (see setup.py): a gate's forward and rules are C struct fields.

cdef class Gate:
    cdef public object name, forward, vjp, jvp, broadcasts, symbol, saves, saves_out
    cdef public object numpy, api, local, text, caveats, vjp_add
    cdef public bint views
    cdef public bint symmetric
