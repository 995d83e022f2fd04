"""Sweeps: 03_train -> 04_swap -> 05_evaluate over a grid of training parameters, one named run each.

From a notebook::

    from swaplab.notebook import sweep
    rows = sweep.sweep("demo", {"LEARNING_RATE": [5e-4, 2e-4], "WARP_END": [0.25, 1.0]},
                       common={"INPUT": "samples/grid/s2/pwij3p.mpg", "DIRECTION": "a2b"},
                       train={"TIME_BUDGET_MIN": 5.0, "STEPS": 100_000})

From the command line (values are Python literals; a bare word is a string)::

    python -m swaplab.notebook.sweep --project demo --grid LEARNING_RATE=5e-4,2e-4 --grid WARP_END=0.25,1.0 \\
        --common INPUT=samples/grid/s2/pwij3p.mpg DIRECTION=a2b --train TIME_BUDGET_MIN=5 STEPS=100000

The grid's values go to 03_train only (04_swap and 05_evaluate read some of the same
names, such as BATCH_SIZE, with other meanings); ``common`` goes to every stage, and
``train``, ``swap``, ``evaluate`` to one each. Each combination is one run, named after
its values (``sweep-learning_rate-0.0005-warp_end-0.25``); a run that exists resumes, as
03_train does. 05_evaluate's metrics are copied into the run folder, so the table of
runs (``swaplab.judge.tracking.runs_table``, the one 06_compare shows) keeps every run's.
Executed notebooks go to ``runs/<project>/sweep/<run>/``.
"""

from __future__ import annotations

import argparse
import ast
import itertools
import re
import shutil
import sys
from pathlib import Path

from swaplab.core import paths
from swaplab.core.files import atomic_path
from swaplab.judge import tracking
from swaplab.notebook.runner import NotebookError, run_notebook

STAGES = ("03_train", "04_swap", "05_evaluate")


def run_name(prefix: str, values: dict) -> str:
    """A folder-safe run name from the grid values, e.g. ``sweep-learning_rate-0.0005``."""
    parts = [prefix] + [f"{k.lower()}-{v}" for k, v in values.items()]
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", "-".join(parts)).replace("..", ".")[:64]
    return paths.check_name(name, "RUN")


def grid_runs(grid: dict[str, list], prefix: str = "sweep") -> list[tuple[str, dict]]:
    """[(run name, {NAME: value})] for every combination of the grid, in order."""
    for key, values in grid.items():
        if not key.isupper() or not isinstance(values, (list, tuple)) or not values:
            raise ValueError(f"sweep grid {key}={values!r}: give an UPPER_CASE parameter of 03_train and a non-empty list")
    combos = [dict(zip(grid, vs)) for vs in itertools.product(*grid.values())]
    runs = [(run_name(prefix, c), c) for c in combos]
    if len({name for name, _ in runs}) != len(runs):
        raise ValueError(f"sweep grid {grid}: two combinations give the same run name; use shorter values or fewer keys")
    return runs


def sweep(project: str, grid: dict[str, list], common: dict | None = None, train: dict | None = None,
          swap: dict | None = None, evaluate: dict | None = None, stages=STAGES, prefix: str = "sweep",
          out_dir=None, log=print) -> list[dict]:
    """Run ``stages`` for each combination of ``grid``; returns ``tracking.runs_table`` of the project."""
    common = {**(common or {}), "PROJECT": project, "INTERACTIVE": False}
    unknown = set(stages) - set(STAGES)
    if unknown:
        raise ValueError(f"sweep stages {sorted(unknown)}: choose from {STAGES}")
    runs = grid_runs(grid, prefix)
    out_dir = Path(out_dir) if out_dir else paths.repo_root() / "runs" / project / "sweep"
    per_stage = {"03_train": {"SEED": 0, **(train or {})}, "04_swap": swap or {}, "05_evaluate": evaluate or {}}
    data_dir, weights_dir = _dirs(common)
    for i, (name, values) in enumerate(runs, start=1):
        for stage in (s for s in STAGES if s in stages):
            params = {**common, **per_stage[stage], "RUN": name, **(values if stage == "03_train" else {})}
            log(f"[{i}/{len(runs)}] {name}: {stage} ...")
            run_notebook(stage, params, out_dir / name)
            if stage == "05_evaluate":
                _keep_metrics(data_dir, weights_dir, project, name, params.get("DIRECTION", "a2b"))
    return tracking.runs_table(data_dir, weights_dir, project)


def _dirs(common: dict) -> tuple[Path, Path]:
    """DATA_DIR and WEIGHTS_DIR as the notebooks see them (their defaults are relative to notebooks/)."""
    nb_dir = paths.repo_root() / "notebooks"
    return (nb_dir / common.get("DATA_DIR", "../data")).resolve(), (nb_dir / common.get("WEIGHTS_DIR", "../weights")).resolve()


def _keep_metrics(data_dir: Path, weights_dir: Path, project: str, run: str, direction: str) -> None:
    """Copy 05_evaluate's metrics (the project keeps only the latest per direction) into the run folder."""
    src = paths.reports_dir(data_dir, project) / f"metrics_{direction}.json"
    if not src.exists():
        raise FileNotFoundError(f"05_evaluate wrote no {src} for RUN={run!r}: see its executed notebook")
    with atomic_path(paths.run_dir(weights_dir, project, run) / src.name) as tmp:  # a run folder holds whole files only
        shutil.copyfile(src, tmp)


def _assignments(items: list[str], what: str) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"{what} {item!r}: write NAME=value")
        out[key] = _literal(value)
    return out


def _literal(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # a bare word: a string


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--project", required=True, help="project name: data/<project>, weights/<project>")
    ap.add_argument("--grid", action="append", default=[], metavar="NAME=v1,v2",
                    help="a 03_train parameter and its values (repeat for more)")
    for stage in ("common", "train", "swap", "evaluate"):
        ap.add_argument(f"--{stage}", nargs="*", default=[], metavar="NAME=value", help=f"parameters for {stage}")
    ap.add_argument("--stages", default=",".join(STAGES), help="which notebooks to run, comma-separated")
    ap.add_argument("--prefix", default="sweep", help="run names start with this")
    args = ap.parse_args(argv)
    grid = {}
    for item in args.grid:
        key, sep, values = item.partition("=")
        if not sep:
            ap.error(f"--grid {item!r}: write NAME=v1,v2")
        grid[key] = [_literal(v) for v in values.split(",")]
    try:
        rows = sweep(args.project, grid, _assignments(args.common, "--common"), _assignments(args.train, "--train"),
                     _assignments(args.swap, "--swap"), _assignments(args.evaluate, "--evaluate"),
                     stages=tuple(s.strip() for s in args.stages.split(",")), prefix=args.prefix)
    except NotebookError as e:  # one line; SIGTERM or Ctrl-C reached the kernel (03_train saved first): 128 + it
        print(f"swaplab.notebook.sweep: {e}", file=sys.stderr, flush=True)
        return 128 + e.signum if e.signum else 1
    print(tracking.format_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
