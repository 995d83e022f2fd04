"""Where a project's files live, and checks on names a user types.

``data/<project>/<person>/{sources,faces}``, ``data/<project>/{output,reports}``
and ``weights/<project>/<run>/``: one project is one A/B experiment and can be
copied or deleted as a unit. The repository root is found from this file (the
package is installed editable from ``lib/``) or from ``SWAPLAB_HOME``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def repo_root() -> Path:
    """The SwapLab checkout: ``$SWAPLAB_HOME`` or two levels above ``lib/swaplab``."""
    env = os.environ.get("SWAPLAB_HOME")
    return Path(env).resolve() if env else Path(__file__).resolve().parents[2]


def check_name(value: str, what: str) -> str:
    """Return ``value`` if it is a safe folder name (letters, digits, ``_.-``), else raise.

    Names become folders under ``data/`` and ``weights/``, so ``../x`` or ``a/b``
    would write outside the project.
    """
    if not isinstance(value, str) or not _NAME.match(value) or value in {".", ".."} or ".." in value:
        raise ValueError(
            f"{what}={value!r} is not a valid name: use 1-64 letters, digits, '_', '-' or '.', "
            "with no slashes and no '..' (it becomes a folder name)"
        )
    return value


def project_dir(data_dir: str | Path, project: str) -> Path:
    return Path(data_dir) / check_name(project, "PROJECT")


def person_dir(data_dir: str | Path, project: str, person: str) -> Path:
    return project_dir(data_dir, project) / check_name(person, "PERSON")


def sources_dir(data_dir: str | Path, project: str, person: str) -> Path:
    return person_dir(data_dir, project, person) / "sources"


def faces_dir(data_dir: str | Path, project: str, person: str) -> Path:
    return person_dir(data_dir, project, person) / "faces"


def reports_dir(data_dir: str | Path, project: str) -> Path:
    return project_dir(data_dir, project) / "reports"


def output_dir(data_dir: str | Path, project: str) -> Path:
    return project_dir(data_dir, project) / "output"


def run_dir(weights_dir: str | Path, project: str, run: str) -> Path:
    return Path(weights_dir) / check_name(project, "PROJECT") / check_name(run, "RUN")


def source_run_dir(weights_dir: str | Path, project: str, init_from: str) -> Path:
    """The run INIT_FROM names: ``"run"`` in this project, or ``"other_project/run"`` (a pretrained base, say)."""
    parts = str(init_from).split("/")
    if len(parts) > 2:
        raise ValueError(f"INIT_FROM={init_from!r}: give a run of this project or 'project/run', nothing deeper")
    other, run = parts if len(parts) == 2 else (project, parts[0])
    return Path(weights_dir) / check_name(other, "INIT_FROM's project") / check_name(run, "INIT_FROM")
