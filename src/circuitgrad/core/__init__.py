"""Graph and trace machinery: gate records, recording state, the backward walk.

Nothing in here knows NumPy's function names; gates live in ``circuitgrad.gates``.
"""
