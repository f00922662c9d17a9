"""The lab's messages come from the project's catalogs: see ``circuitgrad.i18n``.

The page's own texts are ``static/messages.json``. ``python -m circuitgrad.lab.i18n`` still
updates the catalogs (as ``python tools/catalogs.py`` does).
"""

from ..i18n import LOCALE, build, read_po, translator, write_mo

__all__ = ["LOCALE", "build", "read_po", "translator", "write_mo"]

if __name__ == "__main__":  # pragma: no cover
    from ..i18n import main

    main()
