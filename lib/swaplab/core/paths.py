"""Where a project's files live, and checks on names a user types.

``data/<project>/<person>/{sources,faces}``, ``data/<project>/{output,reports}``
and ``weights/<project>/<run>/``: one project is one A/B experiment and can be
copied or deleted as a unit. A swap's output is named after its input and its
direction (``output_file``), so 05_evaluate finds what 04_swap wrote. The repository root is found from this file (the
package is installed editable from ``lib/``) or from ``SWAPLAB_HOME``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# direction -> the decoder that renders the swapped face. "a2b": faces of A drawn by B's decoder. "a2a"/"b2b" are
# the self-swap diagnostic: a face through its own decoder and pasted back, the ceiling of any swap the model makes.
DIRECTIONS = {"a2b": "b", "b2a": "a", "a2a": "a", "b2b": "b"}
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")  # inputs read as stills, not videos
VIDEO_EXTS = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".mpg", ".mpeg", ".m4v", ".gif")  # what a folder's videos end in


def repo_root() -> Path:
    """The SwapLab checkout: ``$SWAPLAB_HOME`` or two levels above ``lib/swaplab``."""
    env = os.environ.get("SWAPLAB_HOME")
    return Path(env).resolve() if env else Path(__file__).resolve().parents[3]


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


def check_direction(direction: str) -> str:
    """Return ``direction`` if it is one of ``DIRECTIONS``, else raise naming DIRECTION."""
    if direction not in DIRECTIONS:
        raise ValueError(f"DIRECTION={direction!r}: use one of {sorted(DIRECTIONS)} "
                         "('a2b': the input shows A, drawn as B; 'a2a'/'b2b': a self-swap)")
    return direction


def output_name(input_path: str | Path, direction: str) -> str:
    """<input stem>_<direction>.mp4 for a video; for a still, .jpg after a JPEG and .png after any other image
    (lossless, and it keeps the synthetic tag)."""
    suffix = Path(input_path).suffix.lower()
    if suffix in IMAGE_EXTS:
        suffix = ".jpg" if suffix in (".jpg", ".jpeg") else ".png"
    else:
        suffix = ".mp4"
    return f"{Path(input_path).stem}_{direction}{suffix}"


def output_file(data_dir: str | Path, project: str, input_path: str | Path, direction: str) -> Path:
    """Where 04_swap writes the swap of ``input_path`` by default: data/<project>/output/``output_name``."""
    return output_dir(data_dir, project) / output_name(input_path, direction)
