"""A long 03_train run stopped three ways and picked up again, as a user's would be (docs/long_run.md).

The 03_train notebook runs headless through ``swaplab.notebook.runner.run_notebook`` (what the demo uses) on the
demo pair with the default recipe and ``--minutes`` of TIME_BUDGET_MIN. At each of ``--stops`` (wall-clock
minutes into a session) it is stopped, then started again with the same parameters:

1. Ctrl-C, passed on to the notebook's kernel: the KeyboardInterrupt of Jupyter's "Interrupt kernel";
2. SIGTERM, as a preempted cloud machine or a scheduler sends it;
3. kill -9 of the kernel and its driver: a lost machine, nothing can save;

and the last session trains until the budget is spent. After each session it records how it ended,
the step the run had reached (its last progress line) and the step saved (config.json), so the steps
each stop cost, and the disk the run folder uses. Compare the result with the same recipe run without
stops (``quality_curve.py --recipe default --minutes N``): the loss curves and the final previews.

    taskset -c 1 python benchmarks/interrupted_run.py --minutes 120 --stops 30,30,30 --run long_interrupted \\
        --out docs/long_run/interrupted.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOW = ("ctrl-c", "sigterm", "kill -9")
DRIVER = """
import json, sys
from swaplab.notebook.runner import run_notebook
params, out, log = json.loads(sys.argv[1]), sys.argv[2], open(sys.argv[3], "a", buffering=1)
run_notebook("03_train", params, out, timeout=None, stdout_file=log, kernel_log=out + "/kernel.log")
"""


def last_step(log: Path) -> int | None:
    """The last step a session's progress lines reached (autoencoder steps; None before the first line)."""
    steps = re.findall(r"^step (\d+)/", log.read_text() if log.exists() else "", re.M)
    return int(steps[-1]) if steps else None


def stop(proc: subprocess.Popen, how: str) -> None:
    """Stop a session the way ``how`` says; kill -9 takes the kernel (a child in a session of its own) too."""
    import psutil

    if how == "kill -9":
        for p in psutil.Process(proc.pid).children(recursive=True) + [psutil.Process(proc.pid)]:
            p.kill()
    else:
        proc.send_signal(signal.SIGINT if how == "ctrl-c" else signal.SIGTERM)


def session(args, k: int, how: str | None, stop_after: float | None) -> dict:
    """One run of the 03_train notebook, stopped ``how`` after ``stop_after`` minutes (None: to the budget's end)."""
    from swaplab.core import paths
    from swaplab.model import runs

    out = ROOT / "runs" / args.project / f"{args.run}_{k}"
    out.mkdir(parents=True, exist_ok=True)
    log = out / "progress.log"
    params = {"PROJECT": args.project, "RUN": args.run, "TIME_BUDGET_MIN": args.minutes, "STEPS": 1_000_000,
              "INTERACTIVE": False}
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, json.dumps(params), str(out), str(log)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        proc.wait(timeout=None if stop_after is None else 60 * stop_after)
    except subprocess.TimeoutExpired:
        reached = last_step(log)
        stop(proc, how)
        proc.wait()
    else:
        reached, how = last_step(log), "the budget's end"
    tail = proc.stdout.read().strip().splitlines()[-3:]
    run_dir = paths.run_dir(ROOT / "weights", args.project, args.run)
    config = runs.read_config(run_dir) if runs.has_checkpoint(run_dir) else {}
    saved = config.get("steps_done")
    size = sum(f.stat().st_size for f in run_dir.rglob("*") if f.is_file())
    row = {"session": k, "ended_by": how, "wall_min": round((time.monotonic() - t0) / 60, 1), "exit": proc.returncode,
           "step_reached": reached, "step_saved": saved, "detail_steps_saved": config.get("detail_steps_done"),
           "steps_lost": None if reached is None or saved is None else max(reached - saved, 0),
           "run_mb": round(size / 1e6, 1), "last_lines": tail}
    print(json.dumps(row), flush=True)
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=120.0, help="TIME_BUDGET_MIN of the run (its training minutes in all)")
    ap.add_argument("--stops", default="30,30,30", help="wall minutes of the stopped sessions: Ctrl-C, SIGTERM, kill -9")
    ap.add_argument("--project", default="demo")
    ap.add_argument("--run", default="long_interrupted")
    ap.add_argument("--out", default=None, help="write the sessions as JSON here")
    args = ap.parse_args()
    from swaplab import demo
    from swaplab.core import paths

    demo.prepare(ROOT / "data", args.project)
    run_dir = paths.run_dir(ROOT / "weights", args.project, args.run)
    if run_dir.exists():
        raise SystemExit(f"{run_dir} exists: give a new --run, or delete it, so the run starts from scratch")
    stops = [float(x) for x in args.stops.split(",")]
    rows = [session(args, k, how, after) for k, (how, after) in enumerate(zip(HOW, stops), 1)]
    rows.append(session(args, len(rows) + 1, None, None))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"minutes": args.minutes, "sessions": rows}, indent=1))
    os.sync()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
