"""`./run_all.sh lab` works: a token-protected Jupyter server on loopback runs the course.

The README promises that `./run_all.sh lab` opens JupyterLab on 127.0.0.1, on the repository,
with the project's registered kernel ("ferzoo"). This test starts the same server the same way
(JupyterLab from this virtualenv, loopback only, a random token), checks that the token is
required, lists the notebooks through the contents API, executes notebooks/00_explore_data.ipynb
cell by cell in a "ferzoo" kernel started through the kernels API, and shuts the server down.

Everything the server writes (connection files, cookie secret, its config) goes to a temporary
folder; the notebook itself writes only into the git-ignored data/ folder.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest
import zmq
from jupyter_client import BlockingKernelClient
from jupyter_client.kernelspec import KernelSpecManager

pytestmark = pytest.mark.slow  # starts a JupyterLab server and a kernel

KERNEL = "ferzoo"
REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "00_explore_data.ipynb"
START_TIMEOUT = 90.0  # seconds for the server to answer /api/status
CELL_TIMEOUT = 300.0  # seconds per notebook cell (slow shared CPU)
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # colours in IPython tracebacks


@dataclass
class LabServer:
    """A running Jupyter server: where it listens, its token and its runtime folder."""

    url: str
    token: str
    runtime_dir: Path
    process: subprocess.Popen[bytes]
    log: Path

    def request(
        self, method: str, path: str, body: Any = None, token: str | None = ""
    ) -> tuple[int, Any]:
        """Call the REST API; `token=None` sends no credentials. Returns (status, decoded JSON)."""
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"token {token or self.token}"
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        try:
            payload = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            payload = raw.decode(errors="replace")
        return status, payload


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path, lines: int = 40) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """JupyterLab as `./run_all.sh lab` starts it, plus a token and a temporary runtime folder."""
    tmp = tmp_path_factory.mktemp("lab")
    runtime_dir = tmp / "runtime"
    log = tmp / "server.log"
    port, token = _free_port(), secrets.token_hex(24)
    env = {
        **os.environ,
        "JUPYTER_RUNTIME_DIR": str(runtime_dir),  # connection files, cookie secret, server info
        "JUPYTER_CONFIG_DIR": str(tmp / "config"),  # no user config; the venv's etc/ still applies
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "WANDB_MODE": "offline",
        "MPLBACKEND": "Agg",
    }
    # JUPYTER_DATA_DIR is left alone: the kernel spec lives in sys.prefix/share/jupyter anyway.
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",  # fail rather than silently move to another port
        f"--IdentityProvider.token={token}",  # ServerApp.token is deprecated in jupyter_server 2
        "--ServerApp.open_browser=False",
        f"--ServerApp.root_dir={REPO}",
        f"--MappingKernelManager.default_kernel_name={KERNEL}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--ServerApp.allow_root=True")  # containers and CI often run as root
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = LabServer(f"http://127.0.0.1:{port}", token, runtime_dir, proc, log)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"Jupyter server exited with {proc.returncode}:\n{_tail(log)}")
            try:
                if server.request("GET", "/api/status")[0] == 200:
                    break
            except OSError:
                pass  # not listening yet
            if time.monotonic() > deadline:
                pytest.fail(f"Jupyter server not ready after {START_TIMEOUT:.0f} s:\n{_tail(log)}")
            time.sleep(0.5)
        yield server
    finally:
        if proc.poll() is None:
            try:
                server.request("POST", "/api/shutdown")
            except OSError:
                pass  # the server may close the connection while stopping
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


@pytest.fixture(scope="module")
def ferzoo_spec() -> str:
    """The project's kernel must be registered (run_all.sh does it during set-up)."""
    if KERNEL not in KernelSpecManager().find_kernel_specs():
        pytest.skip(f'Jupyter kernel "{KERNEL}" is not registered; run `./run_all.sh setup`')
    return KERNEL


def test_token_required_and_loopback_only(lab: LabServer) -> None:
    status, _ = lab.request("GET", "/api/contents/notebooks", token=None)
    assert status in (401, 403), f"unauthenticated request answered {status}"
    status, _ = lab.request("GET", "/api/contents/notebooks", token="not-the-token")
    assert status in (401, 403), f"request with a wrong token answered {status}"
    (info_file,) = lab.runtime_dir.glob(f"jpserver-{lab.process.pid}.json")
    info = json.loads(info_file.read_text())
    assert info["hostname"] == "127.0.0.1"
    assert info["url"].startswith("http://127.0.0.1:")


def test_contents_api_lists_the_course_notebooks(lab: LabServer, ferzoo_spec: str) -> None:
    status, listing = lab.request("GET", "/api/contents/notebooks")
    assert status == 200, listing
    assert listing["type"] == "directory"
    served = {item["name"] for item in listing["content"] if item["type"] == "notebook"}
    on_disk = {path.name for path in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    assert served == on_disk
    assert NOTEBOOK.name in served

    status, specs = lab.request("GET", "/api/kernelspecs")
    assert status == 200, specs
    assert ferzoo_spec in specs["kernelspecs"]


def test_explore_data_runs_in_the_registered_kernel(lab: LabServer, ferzoo_spec: str) -> None:
    # The kernel starts in the notebook's folder, as it does when Lab opens the notebook.
    status, kernel = lab.request("POST", "/api/kernels", {"name": ferzoo_spec, "path": "notebooks"})
    assert status == 201, kernel
    kernel_id = kernel["id"]
    client = BlockingKernelClient()
    try:
        status, model = lab.request("GET", f"/api/kernels/{kernel_id}")
        assert status == 200, model
        assert model["name"] == ferzoo_spec

        connection = lab.runtime_dir / f"kernel-{kernel_id}.json"
        if zmq.has("curve"):  # the server provisions CurveZMQ keys (config/jupyter)
            assert "curve_publickey" in json.loads(connection.read_text())
        client.load_connection_file(str(connection))
        client.start_channels()
        client.wait_for_ready(timeout=120)

        notebook = nbformat.read(NOTEBOOK, as_version=4)
        code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
        assert code_cells, f"{NOTEBOOK.name} has no code cells"
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type != "code":
                continue
            errors: list[dict[str, Any]] = []

            def collect(msg: dict[str, Any], errors: list[dict[str, Any]] = errors) -> None:
                if msg["msg_type"] == "error":
                    errors.append(msg["content"])

            reply = client.execute_interactive(
                cell.source, timeout=CELL_TIMEOUT, output_hook=collect, allow_stdin=False
            )
            content = reply["content"]
            if content["status"] != "ok":
                detail = content if content.get("ename") else (errors[0] if errors else content)
                traceback = ANSI.sub("", "\n".join(detail.get("traceback", [])))
                pytest.fail(
                    f"{NOTEBOOK.name} cell {index} failed: "
                    f"{detail.get('ename')}: {detail.get('evalue')}\n{traceback}\n"
                    f"--- source ---\n{cell.source}"
                )
    finally:
        client.stop_channels()
        deleted, _ = lab.request("DELETE", f"/api/kernels/{kernel_id}")
    assert deleted == 204, f"DELETE /api/kernels/{kernel_id} answered {deleted}"
    assert "without encryption" not in lab.log.read_text(errors="replace")


def test_lab_asks_nothing_about_news(lab: LabServer) -> None:
    """The project's settings (config/jupyter, copied into the venv by the set-up) apply."""
    status, settings = lab.request(
        "GET", "/lab/api/settings/@jupyterlab/apputils-extension:notification"
    )
    assert status == 200, f"settings answered {status}"
    defaults = settings["schema"]["properties"]  # overrides.json sets the schema's defaults
    assert defaults["fetchNews"]["default"] == "false"
    assert defaults["checkForUpdates"]["default"] is False
