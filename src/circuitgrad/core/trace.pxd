# Compiled core (see setup.py): the recording flags every gate reads are C struct fields.

cdef class _State:
    cdef public bint grad_enabled
    cdef public object levels
    cdef public Py_ssize_t next_level
