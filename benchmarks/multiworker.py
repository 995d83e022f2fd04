"""Training throughput with 1 and 2 CPU workers on this machine (MultiWorkerMirroredStrategy over
127.0.0.1), at the same global batch: the figure is faces/s, the ratio is 2 workers / 1 worker.

Each run is real: ``python -m swaplab.train.worker`` processes on synthetic faces. The rate is
read from the chief's history.json between the first record (after tracing and warm-up) and
the last, so start-up is left out. Two workers on one machine share its cores and add an
all-reduce of every gradient per step over loopback: no speed-up is expected on a small CPU
machine; the ratio shows the overhead, which a second machine's cores must repay.

    python benchmarks/multiworker.py [--model tiny] [--batch 16] [--steps 40] [--split-threads]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from swaplab.train.worker import free_ports


def run(workers: int, args, root: Path) -> float:
    """faces/s of one training run with ``workers`` processes (one: no TF_CONFIG)."""
    weights = root / f"w{workers}"
    config = root / f"run{workers}.json"
    config.write_text(json.dumps({"project": "bench", "run": "r", "model": args.model, "batch_size": args.batch,
                                  "steps": args.steps, "log_every": args.log_every, "save_every": 10**6,
                                  "preview_every": 10**6, "weights_dir": str(weights), "warmup_steps": 0}))
    hosts = [f"127.0.0.1:{p}" for p in free_ports(workers)]
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    procs = []
    for i in range(workers):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
        env.pop("TF_CONFIG", None)
        if workers > 1:
            env["TF_CONFIG"] = json.dumps({"cluster": {"worker": hosts}, "task": {"type": "worker", "index": i}})
        if args.split_threads:
            env.update(TF_NUM_INTRAOP_THREADS=threads, OMP_NUM_THREADS=threads)
        procs.append(subprocess.Popen([sys.executable, "-m", "swaplab.train.worker", str(config), "--synthetic",
                                       str(args.faces)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                      text=True))
    for p in procs:
        err = p.communicate()[1]
        if p.returncode:
            raise SystemExit(f"a worker of the {workers}-worker run failed:\n{err[-2000:]}")
    history = json.loads((weights / "bench" / "r" / "history.json").read_text())
    first, last = history[0], history[-1]
    return 2 * args.batch * (last["step"] - first["step"]) / (last["time_s"] - first["time_s"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="tiny", help="architecture (swaplab.model.models.MODELS)")
    ap.add_argument("--batch", type=int, default=16, help="global faces per person per step (split over workers)")
    ap.add_argument("--steps", type=int, default=40, help="steps per run; timed from the first history record")
    ap.add_argument("--log-every", type=int, default=10, help="steps between history records")
    ap.add_argument("--faces", type=int, default=64, help="synthetic faces per person")
    ap.add_argument("--split-threads", action="store_true",
                    help="give each worker cpu_count / workers threads (TF_NUM_INTRAOP_THREADS, OMP_NUM_THREADS)")
    args = ap.parse_args()
    print(f"{os.cpu_count()} CPU cores, model {args.model}, global batch {args.batch} faces per person, "
          f"{args.steps} steps{', threads split over workers' if args.split_threads else ''}", flush=True)
    with tempfile.TemporaryDirectory(prefix="swaplab-bench-") as tmp:
        rates = {}
        for workers in (1, 2):
            t = time.perf_counter()
            rates[workers] = run(workers, args, Path(tmp))
            print(f"{workers} worker{'s' if workers > 1 else ' '}: {rates[workers]:7.1f} faces/s  "
                  f"(run with start-up {time.perf_counter() - t:.0f} s)", flush=True)
    print(f"ratio 2 workers / 1 worker: {rates[2] / rates[1]:.2f}  (1.0 = no overhead; no speed-up is expected "
          "with both workers on one machine: they share its cores)")


if __name__ == "__main__":
    main()
