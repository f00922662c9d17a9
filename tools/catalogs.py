"""Update the message catalogs of circuitgrad (see circuitgrad/i18n.py): write the template
src/circuitgrad/locale/circuitgrad.pot, rebuild every .mo from its .po, and list the
messages each catalog does not translate yet.

    python tools/catalogs.py
"""

from circuitgrad.i18n import main

if __name__ == "__main__":
    main()
