"""A manual check, not a test: ``cg.lab`` inside a real JupyterLab, driven by chromium.

make test runs the lab's views in a page that stands in for a notebook; this runs them in
JupyterLab itself, which would make the tests' install too heavy. In a venv with
``pip install jupyterlab playwright -e '.[lab]'`` and Debian's chromium::

    python tools/check_jupyterlab.py

It opens a notebook with one cell, ``cg.lab("x * y + z", x=3, y=-4, z=2)``, runs it, steps
the output to the end, changes x to 5 (the live view recomputes in the kernel) and prints
what the page shows; it exits 1 if a number is not the one expected.
"""

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

CELL = "import circuitgrad as cg\ncg.lab('x * y + z', x=3, y=-4, z=2, lang='en')"


def notebook(folder):
    cell = {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
            "source": CELL}
    kernel = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (folder / "lab.ipynb").write_text(json.dumps(
        {"cells": [cell], "metadata": {"kernelspec": kernel}, "nbformat": 4,
         "nbformat_minor": 5}))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    folder, port = Path(tempfile.mkdtemp()), free_port()
    notebook(folder)
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("jupyter")), "lab", "--no-browser", "--allow-root",
         f"--port={port}", "--ip=127.0.0.1", "--IdentityProvider.token=",
         f"--ServerApp.root_dir={folder}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen = {}
    try:
        time.sleep(10)  # the server's start-up
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"),
                                        args=["--no-sandbox", "--disable-gpu"])
            tab = browser.new_page(viewport={"width": 1400, "height": 1000})
            errors = []
            tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            tab.goto(f"http://127.0.0.1:{port}/lab/tree/lab.ipynb", timeout=120_000)
            tab.locator(".jp-Notebook").wait_for(timeout=120_000)
            tab.locator(".jp-Cell").first.click()
            time.sleep(3)  # the kernel's start-up
            tab.keyboard.press("Shift+Enter")
            frame = tab.locator(".jp-OutputArea-output iframe").first
            frame.wait_for(timeout=120_000)
            lab = frame.content_frame
            lab.locator("#run").click()
            seen["f"] = lab.locator("[data-value=f]").first.text_content()
            seen["dx"] = lab.locator("[data-grad=x]").first.text_content()
            lab.locator("#input-x").fill("5")
            lab.locator("[data-value=f]").filter(has_text="-18").wait_for(timeout=30_000)
            seen["f after x = 5"] = lab.locator("[data-value=f]").first.text_content()
            seen["console errors"] = errors
            browser.close()
    finally:
        server.terminate()
        server.wait(20)
        shutil.rmtree(folder, ignore_errors=True)
    print(seen)
    want = {"f": "-10.00", "dx": "-4.000", "f after x = 5": "-18.00", "console errors": []}
    sys.exit(0 if seen == want else 1)


if __name__ == "__main__":
    main()
