"""The output folder of a command (``circuitgrad demo --out``, ``circuitgrad train
--out-dir``), checked before a run; here so that both commands import it from below.
"""

import os
import tempfile

from .i18n import msg


def out_dir_problem(path):
    """Make ``path`` a folder to write into now, or say why it cannot be (None if fine).

    Commands call this before they start, so that a long run is not lost because its
    results cannot be saved at the end. The folder is made here; on failure nothing is.
    """
    if not path:
        return msg("the folder name is empty")
    existing = os.path.abspath(path)
    while not os.path.lexists(existing):  # the longest part of the path that exists
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        if existing == os.path.abspath(path):
            return msg("{path} exists and is not a folder", path=path)
        return msg("cannot create {path}: {existing} is not a folder", path=path,
                   existing=existing)
    if not os.access(existing, os.W_OK | os.X_OK):
        return msg("cannot write in {path}: permission denied", path=existing)
    try:  # the checks above cannot see everything (special file systems, root, quotas)
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        return msg("cannot write in {path}: {error}", path=path, error=err.strerror or err)
    return None
