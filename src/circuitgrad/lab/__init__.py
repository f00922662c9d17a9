"""The circuit lab: step through the forward and backward pass of an expression in a browser.

``circuitgrad lab`` serves one page (``static/``) and a JSON endpoint (``server.py``); the
JSON is the circuit as data, read from the same circuit and staged listing that
``circuitgrad grad`` prints (``data.py``). ``circuitgrad grad ... --html FILE`` writes the
same page with the data embedded (``page.py``).
"""
