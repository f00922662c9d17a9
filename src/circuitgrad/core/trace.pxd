# Compiled core (see setup.py): the count every gate reads first is a C struct field.

cdef class _State:
    cdef public bint grad_enabled
    cdef public object levels
    cdef public Py_ssize_t transforms
    cdef public bint anomaly


cdef class _Switches:
    cdef public Py_ssize_t changed
