"""The workbench in a real browser: JupyterLab on 127.0.0.1 driven by headless Chromium (Playwright).

``lab`` serves a temporary folder with JupyterLab (a random free port, a random token,
the app exposed to the page so the tests can run commands such as "run all cells").
``open_notebook`` copies a notebook there with papermill-style injected parameters
(tiny data, ``INTERACTIVE=True``), opens it in a new page and returns a ``Notebook``
helper. Chromium is the Debian package (Playwright's own browser download is not
used); ``SWAPLAB_CHROMIUM`` points elsewhere. A test that fails leaves a screenshot,
its path printed in the failure message.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
CHROMIUM = os.environ.get("SWAPLAB_CHROMIUM", "/usr/bin/chromium")
# error-level output: a traceback, an absl/glog W/E/F line, a Python "...Error:" line
BAD_OUTPUT = re.compile(r"Traceback|^[WEF]\d{4} \d\d:\d\d|^\w*Error: ", re.M)


def pytest_collection_modifyitems(items):
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.ui)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def chromium_path():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: install it with `apt-get install -y chromium` "
                    "(or set SWAPLAB_CHROMIUM to a Chromium binary)", pytrace=False)
    try:
        import playwright  # noqa: F401
    except ImportError:
        pytest.fail("Playwright is not installed: pip install -e '.[ui]' (make setup does it)", pytrace=False)
    return CHROMIUM


@pytest.fixture(scope="session")
def lab(tmp_path_factory, chromium_path):
    """(base_url, token, root): a JupyterLab server over a temporary root folder."""
    root = tmp_path_factory.mktemp("lab")
    settings = tmp_path_factory.mktemp("lab-settings")
    # every cell stays in the DOM (JupyterLab 4 detaches cells scrolled out of view by default)
    tracker = settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text(json.dumps({"windowingMode": "none"}))
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(settings),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path_factory.mktemp("lab-workspaces"))}
    log = open(root.parent / "jupyterlab.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
         "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_server(url, token, proc, root.parent / "jupyterlab.log")
        yield url, token, root
    finally:  # the server, its kernels and what they started (TensorBoard) share the server's process group
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def _wait_for_server(url: str, token: str, proc, log: Path, timeout: float = 90) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            pytest.fail(f"JupyterLab exited with {proc.returncode}: see {log}", pytrace=False)
        try:
            with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer on {url} within {timeout:.0f} s: see {log}", pytrace=False)


@pytest.fixture(scope="session")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path, headless=True,
                              args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
        yield b
        b.close()


class Notebook:
    """One notebook open in a page: run all cells, read outputs, screenshot."""

    def __init__(self, page, name: str, shots: Path):
        self.page, self.name, self.shots = page, name, shots

    def run_all(self) -> None:
        # not awaited: the command's promise settles only when the last cell has run
        self.page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")

    def kernel_status(self) -> str:
        return self.page.evaluate("""() => {
            const w = window.jupyterapp.shell.currentWidget;
            const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
            return k ? k.status : 'none'; }""")

    def prompts(self) -> list[str]:
        return self.page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()

    def finished(self) -> bool:
        """All cells ran (every prompt numbered) and the kernel is idle."""
        prompts = self.prompts()
        return bool(prompts) and all(re.search(r"\[\d+\]", p) for p in prompts) and self.kernel_status() == "idle"

    def wait_finished(self, timeout: float) -> None:
        end = time.time() + timeout
        while time.time() < end:
            if self.finished():
                return
            if self.kernel_status() == "idle" and any("[*]" not in p and not re.search(r"\d", p) for p in self.prompts()):
                time.sleep(1.0)  # run-all stops at a failing cell: the rest stay unnumbered
                if not self.finished():
                    break
            time.sleep(0.5)
        raise AssertionError(f"{self.name}: not every cell ran within {timeout:.0f} s (prompts {self.prompts()}); "
                             f"outputs:\n{self.bad_outputs() or self.output_text()[-2000:]}")

    def cell(self, text: str):
        """The code cell whose source contains ``text``."""
        return self.page.locator(".jp-CodeCell", has=self.page.locator(".jp-InputArea", has_text=text))

    def output_text(self) -> str:
        return "\n".join(self.page.locator(".jp-OutputArea-output").all_inner_texts())

    def bad_outputs(self) -> list[str]:
        """Output lines of any cell that hold a traceback or an error/warning-level log line."""
        return [line for line in self.output_text().splitlines() if BAD_OUTPUT.search(line)]

    def screenshot(self, tag: str) -> Path:
        path = self.shots / f"{self.name}-{tag}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def open_notebook(lab, browser, tmp_path):
    """open_notebook("03_train", {...}) -> Notebook; screenshots of a failing test land in tmp_path."""
    import nbformat
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    url, token, root = lab
    pages = []

    def _open(name: str, parameters: dict) -> Notebook:
        src = NOTEBOOKS / f"{name}.ipynb"
        nb = parameterize_notebook(load_notebook_node(str(src)), parameters)
        target = root / f"{name}-{tmp_path.name}.ipynb"
        nbformat.write(nb, target)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        pages.append(page)
        # a workspace of its own: JupyterLab would otherwise reopen the notebooks of earlier tests beside it
        page.goto(f"{url}/lab/workspaces/{target.stem}/tree/{target.name}?token={token}")
        page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                               " && window.jupyterapp.shell.currentWidget.sessionContext"
                               " && window.jupyterapp.shell.currentWidget.sessionContext.session"
                               " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
                               " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status == 'idle'",
                               timeout=240_000)  # the kernel starting; minutes on a loaded machine
        return Notebook(page, name, tmp_path)

    yield _open
    for page in pages:
        page.close()


@pytest.fixture
def screenshot_on_failure(request):
    """Use as ``with screenshot_on_failure(nb):``; a failure inside saves a full-page screenshot and names it."""
    from contextlib import contextmanager

    @contextmanager
    def guard(nb: Notebook):
        try:
            yield
        except BaseException as e:
            shot = nb.screenshot("failure")
            print(f"screenshot of the failure: {shot}")
            raise AssertionError(f"{e}\n(screenshot: {shot})") from e

    return guard
