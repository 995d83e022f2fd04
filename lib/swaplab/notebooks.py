"""Run the numbered notebooks headless with papermill (used by the tests and the demo).

``run_notebook("02_align", {"PROJECT": "demo", ...}, out_dir)`` executes
``notebooks/02_align.ipynb`` with its working directory set to ``notebooks/``
(as in Jupyter, so the notebooks' relative defaults such as ``DATA_DIR="../data"``
mean the same thing) and writes the executed copy to ``out_dir``. A failing cell
raises ``NotebookError`` naming the notebook, the cell and the error.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from .paths import repo_root

ORDER = ("01_collect", "02_align", "03_train", "04_swap", "05_evaluate", "06_compare")


class NotebookError(RuntimeError):
    """A notebook cell raised; the message holds the notebook path and the cell's error."""


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
    instead of this process's console; cell outputs and errors are not affected."""
    import papermill as pm

    src = notebook_path(name)
    out_dir = Path(out_dir) if out_dir else Path(os.environ.get("TMPDIR", "/tmp")) / "swaplab-runs"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / src.name
    t0 = time.time()
    try:
        with _stderr_of_children(kernel_log):
            pm.execute_notebook(
                str(src), str(out), parameters=parameters or {}, cwd=str(src.parent),
                kernel_name="python3", progress_bar=False, log_output=log_output,
                execution_timeout=timeout, request_save_on_cell_execute=False, stdout_file=stdout_file,
            )
    except pm.PapermillExecutionError as e:
        raise NotebookError(f"{src.name} failed in cell {e.exec_count} after {time.time() - t0:.0f}s: {e.ename}: {e.evalue} (executed copy: {out})") from None
    return out


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
