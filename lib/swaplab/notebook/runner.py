"""Run the numbered notebooks headless with papermill (used by the tests and the demo).

``run_notebook("02_align", {"PROJECT": "demo", ...}, out_dir)`` executes
``notebooks/02_align.ipynb`` with its working directory set to ``notebooks/``
(as in Jupyter, so the notebooks' relative defaults such as ``DATA_DIR="../data"``
mean the same thing) and writes the executed copy to ``out_dir``. A failing cell
raises ``NotebookError`` naming the notebook, the cell and the error.

Jupyter starts the kernel in a session of its own, so a SIGTERM (``kill PID``, a scheduler)
or a Ctrl-C meant for this process would never reach the cell that runs: this process would
end and the kernel with it (ipykernel exits when its parent is gone), and 03_train would lose
the steps since its last checkpoint. While a notebook runs, ``run_notebook`` passes both
signals on to its kernel instead, where 03_train saves and stops with one line
(``train.Interrupted``); the ``NotebookError`` that follows carries the signal (``signum``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from pathlib import Path

from swaplab.core.paths import repo_root

ORDER = ("01_collect", "02_align", "03_train", "04_swap", "05_evaluate", "06_compare", "07_live")


class NotebookError(RuntimeError):
    """A notebook cell raised; the message holds the notebook path and the cell's error. ``signum``: the signal
    (SIGTERM, SIGINT) passed on to the kernel that stopped it, or None."""

    def __init__(self, message: str, signum: int | None = None):
        super().__init__(message)
        self.signum = signum


def notebook_path(name: str) -> Path:
    path = Path(name)
    if path.suffix != ".ipynb":
        matches = sorted((repo_root() / "notebooks").glob(f"{name}*.ipynb"))
        if len(matches) != 1:
            raise FileNotFoundError(f"notebook {name!r} not found in {repo_root() / 'notebooks'}: use one of {', '.join(ORDER)}")
        path = matches[0]
    if not path.exists():
        raise FileNotFoundError(f"notebook {path} does not exist")
    return path


def run_notebook(
    name: str,
    parameters: dict | None = None,
    out_dir: str | Path | None = None,
    timeout: int | None = 3600,
    log_output: bool = False,
    stdout_file=None,
    kernel_log: str | Path | None = None,
) -> Path:
    """Execute a notebook with ``parameters`` injected; return the executed copy's path.

    ``stdout_file``: an object with ``write``/``flush`` that receives the cells' printed output
    as it comes (the demo shows 03_train's progress lines this way). ``kernel_log``: a file that
    receives the kernel process's own stderr (Jupyter's transport warnings, its shutdown notices)
    instead of this process's console; cell outputs and errors are not affected. SIGTERM and SIGINT sent
    to this process meanwhile go to the kernel (see the module's docstring)."""
    import papermill as pm

    src = notebook_path(name)
    out_dir = Path(out_dir) if out_dir else Path(os.environ.get("TMPDIR", "/tmp")) / "swaplab-runs"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / src.name
    t0 = time.time()
    kernels, received = [], []
    try:
        with _stderr_of_children(kernel_log), _signals_to(kernels, received):
            pm.execute_notebook(
                str(src), str(out), parameters=parameters or {}, cwd=str(src.parent),
                kernel_name="python3", progress_bar=False, log_output=log_output,
                execution_timeout=timeout, request_save_on_cell_execute=False, stdout_file=stdout_file,
                kernel_manager_class=_recording(kernels),
            )
    except pm.PapermillExecutionError as e:
        how = f" (stopped by {_name(received[0])})" if received else ""
        raise NotebookError(f"{src.name} failed in cell {e.exec_count} after {time.time() - t0:.0f}s{how}: {e.ename}: "
                            f"{e.evalue} (executed copy: {out})", received[0] if received else None) from None
    except Exception as e:  # the kernel ended by the signal (outside 03_train's training nothing catches SIGTERM)
        if not received:
            raise
        raise NotebookError(f"{src.name} stopped by {_name(received[0])} after {time.time() - t0:.0f}s: "
                            f"{type(e).__name__}: {e} (executed copy: {out})", received[0]) from None
    return out


def _name(signum: int) -> str:
    return "SIGTERM" if signum == signal.SIGTERM else "Ctrl-C (SIGINT)"


def _recording(kernels: list) -> type:
    """A kernel manager class for papermill that appends each manager it starts to ``kernels``."""
    from jupyter_client.manager import AsyncKernelManager

    class Recording(AsyncKernelManager):
        async def start_kernel(self, **kw):
            await super().start_kernel(**kw)
            kernels.append(self)

    return Recording


@contextlib.contextmanager
def _signals_to(kernels: list, received: list):
    """While inside, SIGTERM and SIGINT go to the running kernel of ``kernels`` (appended to ``received``): SIGTERM
    to the kernel process, SIGINT to its process group (as Jupyter's "Interrupt kernel" and a terminal's Ctrl-C
    send it). With no kernel running yet they act here as usual. Main thread only (Python's signal rule)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def forward(signum, frame):
        running = [km.provisioner for km in kernels if getattr(km.provisioner, "pid", None)]
        if not running:
            raise KeyboardInterrupt if signum == signal.SIGINT else SystemExit(128 + signum)
        received.append(signum)
        for kernel in running:
            with contextlib.suppress(ProcessLookupError):
                if signum == signal.SIGINT:
                    os.killpg(kernel.pgid or kernel.pid, signum)
                else:
                    os.kill(kernel.pid, signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, signal.SIG_DFL if handler is None else handler)


@contextlib.contextmanager
def _stderr_of_children(path: str | Path | None):
    """While inside, file descriptor 2 (which the kernel process inherits) writes to ``path``; None: unchanged."""
    if path is None:
        yield
        return
    saved = os.dup(2)
    try:
        with open(path, "ab") as log:
            os.dup2(log.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
