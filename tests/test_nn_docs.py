"""The staged conv and pooling code in docs/convolution.md runs and matches circuitgrad."""

import re
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "convolution.md"


def test_convolution_page_code_runs_and_agrees():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) >= 4
    namespace = {}
    exec(compile("\n".join(blocks), str(DOC), "exec"), namespace)  # its asserts do the checking
