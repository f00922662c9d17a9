"""The lab's messages come from the project's catalogs: see ``circuitgrad.i18n``.

The page's own texts are ``static/messages.json``.
"""

from ..i18n import LOCALE, build, read_po, translator, write_mo

__all__ = ["LOCALE", "build", "read_po", "translator", "write_mo"]
