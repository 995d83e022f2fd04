"""One worker of a training run spread over several processes or machines.

Start it on every machine (or several times on one, each with its own port), each with
the same run config and its own ``TF_CONFIG`` task::

    TF_CONFIG='{"cluster": {"worker": ["10.0.0.1:23456", "10.0.0.2:23456"]},
                "task": {"type": "worker", "index": 0}}' \\
    python -m swaplab.train_worker weights/myproject/main/config.json --steps 4000

CONFIG is a JSON file of ``swaplab.train.TrainConfig`` fields: the ``config.json`` that
03_train writes into every run folder will do. Worker 0 is the chief: it writes the run
folder; the others write to temporary folders that are removed at the end. Every worker
reads the face sets under DATA_DIR and the chief's checkpoint under WEIGHTS_DIR, so both
must be reachable on every machine (copies of the face sets, a shared folder for the
weights). If a worker dies, the others stop within seconds (exit status 3, one line saying
so); start all of them again with the same command: they resume from the chief's last
checkpoint. Without TF_CONFIG (or with one
worker in it) this trains on this machine alone, like 03_train.

The last line a worker prints is ``WORKER_REPORT {json}``: the run's report plus
``worker``, ``workers``, ``chief`` and ``weights_sum`` (a checksum of the trained
weights, the same on every worker of a run that stayed in step).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path

import keras
import numpy as np

from swaplab import distribute
from swaplab.augment import AugmentConfig

_WRITTEN_BY_RUNS = {"image_size", "steps_done"}  # keys of a run's config.json that are not settings


def free_ports(n: int) -> list[int]:
    """``n`` distinct free TCP ports on 127.0.0.1, for a TF_CONFIG of workers on this machine (tests, benchmarks)."""
    import socket

    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def read_config(path, steps: int | None = None):
    """The TrainConfig in the JSON file ``path`` (a run's config.json, or the fields written by hand)."""
    from swaplab.train import TrainConfig

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CONFIG {path} does not exist: give a run's config.json (03_train writes "
                                "weights/<project>/<run>/config.json) or a JSON file of TrainConfig fields")
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"CONFIG {path} is not readable JSON ({str(e)[:120]}): fix or rewrite it") from None
    if not isinstance(raw, dict):
        raise ValueError(f"CONFIG {path} holds a {type(raw).__name__}, not an object of TrainConfig fields")
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(raw) - known - _WRITTEN_BY_RUNS)
    if unknown:
        raise ValueError(f"CONFIG {path} has keys TrainConfig does not know: {unknown}; remove them")
    settings = {k: v for k, v in raw.items() if k in known}
    if isinstance(settings.get("augment"), dict):
        settings["augment"] = AugmentConfig(**settings["augment"])
    if steps is not None:
        settings["steps"] = steps
    settings["interactive"] = False  # a worker is a headless process: printed lines and PNGs
    return TrainConfig(**settings)


class _WeightsSum(keras.callbacks.Callback):
    """Sum of |w| over the model's weights at the end of training (None if nothing was trained)."""

    value = None

    def on_train_end(self, logs=None):
        self.value = float(sum(np.abs(w).sum(dtype=np.float64) for w in self.model.get_weights()))


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config", help="JSON file of TrainConfig fields, e.g. weights/<project>/<run>/config.json")
    ap.add_argument("--steps", type=int, help="train to this many steps in total (overrides the config's STEPS)")
    ap.add_argument("--synthetic", type=int, metavar="N", default=0,
                    help="train on N cartoon faces per person (swaplab.testing.synthetic_faces) instead of the "
                         "face sets: to try a cluster, and for tests and benchmarks")
    args = ap.parse_args(argv)
    from swaplab import train as tr
    from swaplab.testing import synthetic_faces

    # MultiWorkerMirroredStrategy before any other TensorFlow work: it sets up the cluster's runtime
    strategy = distribute.select_strategy()
    config = read_config(args.config, args.steps)
    data = None
    if args.synthetic:
        data = tuple(synthetic_faces(args.synthetic, config.image_size, person=p, seed=config.seed) for p in (0, 1))
    worker, workers, chief = distribute.worker_info(strategy)
    checksum = _WeightsSum()
    report = tr.train(config, callbacks=[checksum], data=data, strategy=strategy)
    report = {**report, "worker": worker, "workers": workers, "chief": chief, "weights_sum": checksum.value}
    print("WORKER_REPORT " + json.dumps(report), flush=True)
    return report


def _run(argv=None) -> int:
    """``main`` with one-line errors: 2 for bad input, 3 when another worker of the cluster is lost."""
    import tensorflow as tf

    try:
        main(argv)
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        print(f"swaplab.train_worker: {e}", file=sys.stderr)
        return 2
    except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.CancelledError) as e:
        first = " ".join(str(e.message).split())[:300]
        print(f"swaplab.train_worker: another worker stopped or cannot be reached ({first}); stop every worker "
              "and start all of them again with the same command: they resume from the chief's last checkpoint",
              file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(_run())
