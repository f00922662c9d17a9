import os

import numpy as np
from hypothesis import settings

# Deterministic property tests: CI and developers see the same examples.
settings.register_profile("default", derandomize=True, deadline=None,
                          print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

np.seterr(all="raise")  # a NumPy warning inside a test is a failure, not noise
