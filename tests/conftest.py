import os

import numpy as np
from hypothesis import settings

# Deterministic property tests: CI and developers see the same examples.
settings.register_profile("default", derandomize=True, deadline=None,
                          print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# A NumPy warning inside a test is a failure, not noise (underflow stays quiet, as in NumPy).
np.seterr(divide="raise", over="raise", invalid="raise", under="ignore")

# The command line speaks the locale's language (circuitgrad.i18n.locale_lang): the tests
# expect English unless they ask for another, whatever the machine's locale.
for _key in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
    os.environ.pop(_key, None)
os.environ["LANG"] = "C.UTF-8"
