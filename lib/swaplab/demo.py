"""The end-to-end demo: ``python -m swaplab.demo`` (what ``make demo`` runs).

Runs the five notebooks headless with papermill on the pinned samples:
A = GRID speaker s1 (29 clips; one more is held back from training),
B = GRID speaker s2 (2 clips, 150 frames: fewer than a good swap wants, which
the data report says). It collects, aligns and checks coverage, trains the
default CPU model for a fixed time budget, swaps the held-back s1 clip to B
(side by side, with its audio), evaluates, and prints where everything is.
Executed notebooks go to ``runs/<project>/``.
"""

from __future__ import annotations

import argparse
import json
import time

from . import assets
from .notebooks import run_notebook
from .paths import repo_root

HOLDOUT = "samples/grid/s1/pwbq6p.mpg"  # never seen in training: the clip the demo swaps and scores


def steps(project: str, run: str, budget_min: float, model: str) -> list[tuple[str, dict]]:
    """(notebook, parameters) in order; every notebook keeps its defaults for what is not set here."""
    s1 = [k for k in assets.keys("samples/grid/s1/") if k != HOLDOUT]
    common = {"PROJECT": project, "SEED": 0, "INTERACTIVE": False}
    return [
        ("01_collect", {**common, "PERSON": "a", "SOURCES": s1}),
        ("01_collect", {**common, "PERSON": "b", "SOURCES": ["samples/grid/s2/"]}),
        ("02_align", {**common, "PERSON": "a", "COMPARE_WITH": ""}),
        ("02_align", {**common, "PERSON": "b", "COMPARE_WITH": "a", "TARGET_VIDEO": HOLDOUT}),
        ("03_train", {**common, "PERSON_A": "a", "PERSON_B": "b", "RUN": run, "MODEL": model,
                      "TIME_BUDGET_MIN": budget_min, "STEPS": 1_000_000}),
        ("04_swap", {**common, "RUN": run, "INPUT": HOLDOUT, "DIRECTION": "a2b", "SIDE_BY_SIDE": True}),
        ("05_evaluate", {**common, "RUN": run, "INPUT": HOLDOUT, "DIRECTION": "a2b"}),
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--project", default="demo", help="project name: data/<project>, weights/<project>")
    ap.add_argument("--run", default="lite", help="training run name")
    ap.add_argument("--model", default="lite", help="architecture: lite (CPU), original, hd128 (GPU)")
    ap.add_argument("--budget-min", type=float, default=18.0, help="training time budget in minutes")
    ap.add_argument("--from-step", type=int, default=1, help="start at step N (1-7) when earlier ones are done")
    args = ap.parse_args(argv)

    out_dir = repo_root() / "runs" / args.project
    plan = steps(args.project, args.run, args.budget_min, args.model)
    t0 = time.time()
    for i, (name, params) in enumerate(plan, start=1):
        if i < args.from_step:
            continue
        t = time.time()
        label = f"{name}" + (f" [{params['PERSON']}]" if "PERSON" in params else "")
        print(f"[{i}/{len(plan)}] {label} ...", flush=True)
        run_notebook(name, params, out_dir / f"{i}_{name}_{params.get('PERSON', '')}".rstrip("_"))
        print(f"      done in {time.time() - t:.0f}s", flush=True)

    data = repo_root() / "data" / args.project
    metrics = data / "reports" / "metrics.json"
    print(f"\nDemo finished in {(time.time() - t0) / 60:.1f} min.")
    print(f"  swapped video:      {next(iter(sorted((data / 'output').glob('*.mp4'))), 'missing')}")
    print(f"  executed notebooks: {out_dir}")
    print(f"  reports and plots:  {data / 'reports'}")
    print(f"  trained weights:    {repo_root() / 'weights' / args.project / args.run}")
    if metrics.exists():
        summary = json.loads(metrics.read_text()).get("summary", {})
        print("  metrics:", json.dumps(summary, indent=2, default=str)[:1500])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
