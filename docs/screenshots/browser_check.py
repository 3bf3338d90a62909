"""Browser check of ``ferlib.course.widgets.slider`` (issue 24 item 6): Chromium + JupyterLab.

Writes a 3-cell scratch notebook to ``outputs/browser_check/`` (git-ignored) whose last cell is
chapter 12's "scale" slider cell, copied verbatim from ``notebooks/12_avce.ipynb`` (its ``q`` is
random ReLU scores here, so it runs in seconds). Starts ``jupyter lab`` from the project's venv
(FERZOO_STATIC unset, so the slider is interactive) and headless Chromium, drives the page over
the DevTools protocol: Run > Run All Cells, screenshot, then moves the slider with the keyboard
(ArrowLeft on the slider handle), waits for the figure to be redrawn, screenshot again. Checks that
the figure's <img> src changed and exits non-zero if anything did not happen. Stops both servers.

Needs ``chromium`` (apt) and ``websocket-client`` (pip; any Python 3, not the project's venv):

    apt-get install -y chromium
    python3 -m venv /tmp/bc_venv && /tmp/bc_venv/bin/pip install websocket-client
    /tmp/bc_venv/bin/python docs/screenshots/browser_check.py        # from the repo root
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import websocket  # websocket-client

REPO = Path(__file__).resolve().parents[2]
TOKEN = "check"
NOTEBOOK = "outputs/browser_check/slider_check.ipynb"


def chapter_cell(marker: str = 'slider(draw, "scale"') -> str:
    nb = json.loads((REPO / "notebooks/12_avce.ipynb").read_text())
    for cell in nb["cells"]:
        src = "".join(cell["source"])
        if cell["cell_type"] == "code" and marker in src:
            return src
    raise SystemExit(f"no cell with {marker!r} in notebooks/12_avce.ipynb")


def write_notebook() -> Path:
    def code(src: str) -> dict:
        return {
            "cell_type": "code",
            "execution_count": None,
            "metadata": {},
            "outputs": [],
            "source": src,
        }

    cells = [
        code(
            "import os\n\nimport matplotlib\nimport torch\n\nfrom ferlib import figures\n"
            "from ferlib.course.widgets import interactive, slider\n\n%matplotlib inline\n"
            'matplotlib.rcParams["figure.dpi"] = 100\n'
            'print("FERZOO_STATIC =", repr(os.environ.get("FERZOO_STATIC")), '
            '"| interactive():", interactive())'
        ),
        code(
            "# stand-in for chapter 12's q (untrained R below q: ReLU scores, 32 units)\n"
            "torch.manual_seed(0)\nq = torch.relu(0.3 * torch.randn(16, 32))\n"
            "print(tuple(q.shape))"
        ),
        code("# chapter 12, section 3, verbatim\n" + chapter_cell()),
    ]
    nb = {
        "cells": cells,
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {
                "name": "ferzoo",
                "display_name": "Python (FER-Zoo)",
                "language": "python",
            }
        },
    }
    path = REPO / NOTEBOOK
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1))
    return path


def wait_http(url: str, timeout: float) -> bytes:
    end = time.time() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.read()
        except OSError:
            if time.time() > end:
                raise
            time.sleep(0.5)


class Page:
    """Minimal DevTools-protocol client for one page target."""

    def __init__(self, ws_url: str):
        self.ws = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self.next_id = 0

    def send(self, method: str, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def js(self, expr: str):
        r = self.send("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"JS error in {expr[:80]!r}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait(self, expr: str, timeout: float, what: str):
        end = time.time() + timeout
        while time.time() < end:
            v = self.js(expr)
            if v:
                return v
            time.sleep(0.5)
        raise SystemExit(f"timed out after {timeout:.0f}s waiting for {what}")

    def click(self, selector_js: str, what: str):
        """Real mouse press/release at the centre of the element ``selector_js`` evaluates to."""
        rect = self.js(
            f"(() => {{ const e = {selector_js}; if (!e) return null; "
            "const r = e.getBoundingClientRect(); return [r.x + r.width / 2, "
            "r.y + r.height / 2]; })()"
        )
        if not rect:
            raise SystemExit(f"not found: {what}")
        x, y = rect
        self.send("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y)
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def key(self, key: str, code: int):
        for kind in ("rawKeyDown", "keyUp"):
            self.send(
                "Input.dispatchKeyEvent",
                type=kind,
                key=key,
                code=key,
                windowsVirtualKeyCode=code,
                nativeVirtualKeyCode=code,
            )

    def screenshot(self, path: Path):
        data = base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"])
        path.write_bytes(data)
        print(f"screenshot {path.relative_to(REPO)} ({len(data) // 1024} KB)")


# the first figure inside a widget Output area, its src hashed in the page
IMG = "document.querySelector('.jupyter-widgets .jp-OutputArea-output img')"
IMG_HASH = (
    f"(async () => {{ const i = {IMG}; if (!i) return null; const b = await "
    "crypto.subtle.digest('SHA-256', new TextEncoder().encode(i.src)); return "
    "Array.from(new Uint8Array(b)).map(x => x.toString(16).padStart(2, '0')).join('')"
    ".slice(0, 16) + ' (' + i.src.length + ' chars)'; })()"
)
READOUT = "(document.querySelector('.widget-readout') || {}).textContent"
KERNEL_IDLE = (
    "(() => { const e = document.querySelector('.jp-Notebook-ExecutionIndicator');"
    " return e && e.getAttribute('data-status') === 'idle'; })()"
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=8899, help="JupyterLab port")
    ap.add_argument("--cdp-port", type=int, default=9222, help="Chromium DevTools port")
    ap.add_argument("--out", default="docs/screenshots", help="where the PNGs go")
    ap.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    args = ap.parse_args()
    out = REPO / args.out
    out.mkdir(parents=True, exist_ok=True)
    nb = write_notebook()
    print(f"scratch notebook {nb.relative_to(REPO)}; its slider cell:\n{chapter_cell()}\n")

    scratch = Path(tempfile.mkdtemp(prefix="browser_check_"))
    env = {k: v for k, v in os.environ.items() if k != "FERZOO_STATIC"}  # interactive
    env.update(
        MPLBACKEND="Agg",
        PYTHONHASHSEED="0",
        HF_HUB_OFFLINE="1",
        WANDB_MODE="offline",
        JUPYTERLAB_WORKSPACES_DIR=str(scratch / "workspaces"),
    )
    lab_cmd = [
        str(REPO / ".venv/bin/jupyter"),
        "lab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={args.port}",
        f"--ServerApp.token={TOKEN}",
        f"--notebook-dir={REPO}",
        "--MappingKernelManager.default_kernel_name=ferzoo",
        f"--LabServerApp.workspaces_dir={scratch / 'workspaces'}",
    ]
    if os.geteuid() == 0:
        lab_cmd.append("--ServerApp.allow_root=True")
    chrome_cmd = [
        args.chromium,
        "--headless=new",
        f"--remote-debugging-port={args.cdp_port}",
        "--remote-allow-origins=*",
        "--no-sandbox",
        "--disable-gpu",
        "--window-size=1280,900",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={scratch / 'chrome'}",
        "about:blank",
    ]
    print("$", " ".join(lab_cmd))
    print("$", " ".join(chrome_cmd))
    lab_log = open(scratch / "lab.log", "w")
    lab = subprocess.Popen(lab_cmd, env=env, stdout=lab_log, stderr=subprocess.STDOUT)
    chrome = subprocess.Popen(chrome_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ok = False
    try:
        wait_http(f"http://127.0.0.1:{args.port}/api/status?token={TOKEN}", 90)
        targets = json.loads(wait_http(f"http://127.0.0.1:{args.cdp_port}/json/list", 30))
        page = Page(next(t for t in targets if t["type"] == "page")["webSocketDebuggerUrl"])
        page.send("Page.enable")
        page.send(
            "Emulation.setDeviceMetricsOverride",
            width=1280,
            height=900,
            deviceScaleFactor=1,
            mobile=False,
        )
        url = f"http://127.0.0.1:{args.port}/lab/tree/{NOTEBOOK}?token={TOKEN}"
        print("open", url)
        page.send("Page.navigate", url=url)
        t0 = time.time()
        page.wait(
            "document.querySelectorAll('.jp-Notebook .jp-CodeCell').length === 3",
            120,
            "the notebook's 3 cells",
        )
        page.wait(KERNEL_IDLE, 180, "the ferzoo kernel (idle)")
        end = time.time() + 120  # and the server agrees: one kernel, started, idle
        while True:
            kernels = json.loads(
                wait_http(f"http://127.0.0.1:{args.port}/api/kernels?token={TOKEN}", 10)
            )
            if [k["execution_state"] for k in kernels] == ["idle"]:
                break
            if time.time() > end:
                raise SystemExit(f"kernel not idle: {kernels}")
            time.sleep(0.5)
        print(f"kernel: {kernels[0]['name']}, {kernels[0]['execution_state']}")
        time.sleep(2)
        print(f"notebook open, kernel idle after {time.time() - t0:.0f}s")

        # Run > Run All Cells, with real mouse events on Lumino's menu bar
        page.click(
            "[...document.querySelectorAll('.lm-MenuBar-item')]"
            ".find(e => e.textContent.trim() === 'Run')",
            "Run menu",
        )
        run_all = "document.querySelector('.lm-Menu-item[data-command=\"runmenu:run-all\"]')"
        page.wait(f"!!{run_all}", 10, "the Run menu's Run All Cells")
        page.click(run_all, "Run All Cells")
        t0 = time.time()
        page.wait(
            f"!!document.querySelector('.widget-slider') && !!{IMG}",
            240,
            "the slider and its figure",
        )
        page.wait(KERNEL_IDLE, 120, "the kernel to finish")
        time.sleep(1)
        prompts = page.js(
            "[...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]"
            ".map(e => e.textContent.trim())"
        )
        printed = page.js(
            "[...document.querySelectorAll('.jp-OutputArea-output pre')]"
            ".map(e => e.textContent.trim())"
        )
        print(f"ran all cells in {time.time() - t0:.0f}s; prompts {prompts}; printed {printed}")
        page.js("document.querySelector('.widget-slider').scrollIntoView({block: 'center'})")
        time.sleep(1)
        before = page.js(IMG_HASH)
        value_before = page.js(READOUT)
        print(f"BEFORE: slider readout {value_before!r}, figure img src sha256 {before}")
        page.screenshot(out / "slider_rendered.png")

        # move the slider: focus its handle with a click, then ArrowLeft x3 (8 -> 4 -> 2 -> 1)
        page.click("document.querySelector('.widget-slider .noUi-handle')", "slider handle")
        for _ in range(3):
            page.key("ArrowLeft", 37)
            time.sleep(0.3)
        page.wait(f"{READOUT} !== {json.dumps(value_before)}", 20, "the readout to change")
        page.wait(
            f"(async () => (await {IMG_HASH}) !== {json.dumps(before)})()",
            60,
            "the figure to be redrawn",
        )
        page.wait(KERNEL_IDLE, 60, "the kernel to finish redrawing")
        time.sleep(1.5)  # let the last of the three redraws land
        after = page.js(IMG_HASH)
        value_after = page.js(READOUT)
        print(f"AFTER:  slider readout {value_after!r}, figure img src sha256 {after}")
        page.screenshot(out / "slider_moved.png")
        n_img = page.js(
            "document.querySelectorAll('.jupyter-widgets .jp-OutputArea-output img').length"
        )
        ok = before != after and value_before != value_after and n_img == 1
        print(
            f"{'PASS' if ok else 'FAIL'}: widget rendered; moving the slider "
            f"{value_before} -> {value_after} redrew the figure "
            f"({'src changed' if before != after else 'src UNCHANGED'}; "
            f"{n_img} figure(s) in the widget's output)"
        )
    finally:
        chrome.terminate()
        lab.terminate()
        for p in (chrome, lab):
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        lab_log.close()
        if not ok:
            print(f"(JupyterLab log kept in {scratch / 'lab.log'})")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
