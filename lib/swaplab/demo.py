"""The end-to-end demo: ``python -m swaplab.demo`` (what ``make demo`` runs).

Runs the notebooks headless with papermill on the pinned samples, arranged so the
decoder that draws the output has enough faces (the data rule of 02_align):

- A = GRID speaker s2: one clip to train on, the other (``HOLDOUT_A``) held back;
  that unseen clip is what the demo swaps.
- B = GRID speaker s1: 29 clips (~1,000 kept faces) to train on, one more
  (``HOLDOUT_B``) held back for the self-swap b2b, the ceiling of any swap.
- C, D = the two head-pose GIF speakers: distractor identities, so identity is
  an N-way vote (chance 25 %), not a two-way one.

It collects, aligns and checks coverage, trains the default CPU recipe for a
fixed budget, swaps HOLDOUT_A to B (side by side, with its audio), self-swaps
HOLDOUT_B, evaluates both, and prints the figures. Executed notebooks go to
``runs/<project>/``. A notebook that fails ends the demo with one line and status 1; SIGTERM or
Ctrl-C go to the running notebook's kernel (``notebooks.run_notebook``), where 03_train saves the
step it reached before the demo ends with one line and status 128 + the signal.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from swaplab.core import assets
from swaplab.core.paths import repo_root
from swaplab.notebook.runner import NotebookError, run_notebook

HOLDOUT_A = "samples/grid/s2/pwij3p.mpg"  # s2, never trained on: the clip the demo swaps into s1
HOLDOUT_B = "samples/grid/s1/pwbq6p.mpg"  # s1, never trained on: the self-swap b2b is scored on it
DISTRACTORS = {"c": "samples/headpose/head-pose-face-detection-female.gif",
               "d": "samples/headpose/head-pose-face-detection-male.gif"}


def people() -> dict[str, list[str]]:
    """{person: sample keys to train on}: a = s2, b = s1 (each less its held-back clip), c and d = distractors."""
    return {"a": [k for k in assets.keys("samples/grid/s2/") if k != HOLDOUT_A],
            "b": [k for k in assets.keys("samples/grid/s1/") if k != HOLDOUT_B],
            **{p: [key] for p, key in DISTRACTORS.items()}}


def prepare(data_dir, project: str, progress: bool = False) -> None:
    """Collect and align the demo's people with the library directly (what 01 and 02 do), for benchmarks."""
    from swaplab.align import build
    from swaplab.collect import sources as collect

    for person, keys in people().items():
        collect.add_sources(data_dir, project, person, keys, progress=progress)
        build.align_person(data_dir, project, person, progress=progress)


def steps(project: str, run: str, budget_min: float, model: str) -> list[tuple[str, dict]]:
    """(notebook, parameters) in order; every notebook keeps its defaults for what is not set here."""
    common = {"PROJECT": project, "INTERACTIVE": False}
    plan = [("01_collect", {**common, "PERSON": p, "SOURCES": keys}) for p, keys in people().items()]
    plan += [("02_align", {**common, "PERSON": "a", "COMPARE_WITH": ""}),
             ("02_align", {**common, "PERSON": "b", "COMPARE_WITH": "a", "TARGET_VIDEO": HOLDOUT_A})]
    plan += [("02_align", {**common, "PERSON": p, "COMPARE_WITH": ""}) for p in DISTRACTORS]
    plan += [
        ("03_train", {**common, "PERSON_A": "a", "PERSON_B": "b", "RUN": run, "MODEL": model,
                      "TIME_BUDGET_MIN": budget_min, "STEPS": 1_000_000}),
        ("04_swap", {**common, "RUN": run, "INPUT": HOLDOUT_A, "DIRECTION": "a2b", "SIDE_BY_SIDE": True}),
        ("05_evaluate", {**common, "RUN": run, "INPUT": HOLDOUT_A, "DIRECTION": "a2b"}),
        ("04_swap", {**common, "RUN": run, "INPUT": HOLDOUT_B, "DIRECTION": "b2b", "SIDE_BY_SIDE": True}),
        ("05_evaluate", {**common, "RUN": run, "INPUT": HOLDOUT_B, "DIRECTION": "b2b"}),
    ]
    return plan


class TrainingLines:
    """A papermill ``stdout_file`` that passes on 03_train's progress lines (``step 120/~3344 ...``, ``detail step ...``) only,
    one per ``every`` seconds at most (03_train prints one every 10 s of training)."""

    def __init__(self, every: float = 60.0):
        self.every, self.last = every, -float("inf")

    def write(self, text: str) -> None:
        for line in text.splitlines():
            if line.startswith(("step ", "detail step ")) and time.monotonic() - self.last >= self.every:
                self.last = time.monotonic()
                print(f"      {line}", flush=True)

    def flush(self) -> None:
        pass


def headline(metrics_swap: dict, metrics_self: dict | None) -> str:
    """The demo's figures in one line, e.g. ``self-swap fine detail 0.70 (a perfect 64 px model: 0.67, 128 px: 0.94;
    like a 1.3 px blur), identity 100 % (4-way, 40 frames), pose 2.1 deg, jitter 0.95 of the input``: the self-swap's
    full-reference sharpness beside what perfect models score on the same frames, then the swap's identity and pose."""
    from swaplab.judge.numbers import fmt

    s = metrics_swap["summary"]
    own = (metrics_self or {}).get("summary", {})
    return (f"self-swap fine detail {fmt(own.get('detail_fine'), '.2f')} (a perfect 64 px model: "
            f"{fmt(own.get('ceiling64_fine'), '.2f')}, 128 px: {fmt(own.get('ceiling128_fine'), '.2f')}; like a "
            f"{fmt(own.get('detail_fine_blur_px'), '.1f')} px blur), identity {fmt(s.get('identity_retrieval'), '.0%')} "
            f"({s.get('identity_candidates')}-way, {s.get('identity_frames')} frames), pose {fmt(s.get('pose_error_deg'), '.1f')} deg, "
            f"jitter {fmt(s.get('jitter_ratio'), '.2f')} of the input")


def main(argv: list[str] | None = None) -> int:
    from swaplab.core import quiet as _quiet

    _quiet.install()  # the demo is a program of SwapLab's own: its console stays free of C++ log chatter
    from swaplab.model.models import DEFAULT_CPU_MODEL  # imports TensorFlow

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--project", default="demo", help="project name: data/<project>, weights/<project>")
    ap.add_argument("--run", default="main", help="training run name")
    ap.add_argument("--model", default=DEFAULT_CPU_MODEL, help="architecture (see swaplab.model.models.MODELS)")
    ap.add_argument("--budget-min", type=float, default=30.0, help="training time budget in minutes")
    ap.add_argument("--from-step", type=int, default=1, help="start at step N when earlier ones are done")
    args = ap.parse_args(argv)

    out_dir = repo_root() / "runs" / args.project
    plan = steps(args.project, args.run, args.budget_min, args.model)
    t0 = time.time()
    for i, (name, params) in enumerate(plan, start=1):
        if i < args.from_step:
            continue
        t = time.time()
        label = name + "".join(f" [{params[k]}]" for k in ("PERSON", "DIRECTION") if k in params)
        print(f"[{i}/{len(plan)}] {label} ...", flush=True)
        tag = params.get("PERSON") or params.get("DIRECTION") or ""
        step_dir = out_dir / f"{i:02d}_{name}_{tag}".rstrip("_")
        step_dir.mkdir(parents=True, exist_ok=True)
        # the kernel's own stderr (Jupyter's transport and shutdown notices) goes to a file, not the console
        try:
            run_notebook(name, params, step_dir, stdout_file=TrainingLines() if name == "03_train" else None,
                         kernel_log=step_dir / "kernel.log")
        except NotebookError as e:  # one line; SIGTERM or Ctrl-C reached the kernel (03_train saved first): 128 + it
            print(f"swaplab.demo: {e}; to go on from here: python -m swaplab.demo --from-step {i} (same options)",
                  file=sys.stderr, flush=True)
            return 128 + e.signum if e.signum else 1
        print(f"      done in {time.time() - t:.0f}s", flush=True)

    data = repo_root() / "data" / args.project
    reports = data / "reports"
    print(f"\nDemo finished in {(time.time() - t0) / 60:.1f} min.")
    print(f"  swapped videos:     {', '.join(str(p) for p in sorted((data / 'output').glob('*.mp4'))) or 'missing'}")
    print(f"  executed notebooks: {out_dir}")
    print(f"  reports and plots:  {reports}")
    print(f"  trained weights:    {repo_root() / 'weights' / args.project / args.run}")
    swap_json, self_json = reports / "metrics_a2b.json", reports / "metrics_b2b.json"
    if swap_json.exists():
        m_self = json.loads(self_json.read_text()) if self_json.exists() else None
        m_swap = json.loads(swap_json.read_text())
        print("  " + "\n  ".join(m_swap.get("table", "").splitlines()))
        print(f"\nafter {args.budget_min:g} min: {headline(m_swap, m_self)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
