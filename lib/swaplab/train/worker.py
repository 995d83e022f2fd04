"""One worker of a training run spread over several processes or machines.

Start it on every machine (or several times on one, each with its own port), each with
the same run config and its own ``TF_CONFIG`` task::

    TF_CONFIG='{"cluster": {"worker": ["10.0.0.1:23456", "10.0.0.2:23456"]},
                "task": {"type": "worker", "index": 0}}' \\
    python -m swaplab.train.worker weights/myproject/main/config.json --steps 4000

CONFIG is a JSON file of ``swaplab.train.loop.TrainConfig`` fields: the ``config.json`` that
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

A worker never waits for the others without end: it waits at most ``--peer-timeout``
seconds (``$SWAPLAB_PEER_TIMEOUT``, default 120) for every task TF_CONFIG names to
start, then stops with one line naming the missing ones (exit status 4); should TensorFlow
then not connect workers that answered within as long again, a watchdog process prints one
line and ends it with SIGKILL. SIGTERM or Ctrl-C stop the wait at once, with one line; during training
they stop it as they stop 03_train: the chief saves the step it reached, and each worker says in one
line where the run stands. Then, after SIGTERM, the worker ends by SIGTERM itself, as 03_train does
(``stopping.end_by_signal``: exit status 143 in a shell, -15 in ``Popen``); after Ctrl-C it exits 130.
Its output is as quiet as the notebooks' (``swaplab.core.quiet``). Exit status 2 means bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from contextlib import contextmanager, nullcontext
from dataclasses import fields
from pathlib import Path

from swaplab.core import files
from swaplab.core import quiet as _quiet
from swaplab.train import distribute, stopping

# TensorFlow and Keras are imported by the functions that need them: a worker waits for the
# others (distribute.peers_joined) before spending seconds loading them.

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
    from swaplab.train.augment import AugmentConfig
    from swaplab.train.config import TrainConfig

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


def _weights_sum():
    """A callback whose ``value`` is the sum of |w| over the model's weights at the end of training (None if
    nothing was trained)."""
    import keras
    import numpy as np

    class WeightsSum(keras.callbacks.Callback):
        value = None

        def on_train_end(self, logs=None):
            self.value = float(sum(np.abs(w).sum(dtype=np.float64) for w in self.model.get_weights()))

    return WeightsSum()


class _Stopped(Exception):
    """SIGTERM or Ctrl-C stopped this worker; ``code`` is the exit status (128 + the signal)."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


def _terminated(signum, frame):
    raise files.Terminated("SIGTERM")


# The deadline's keeper: a child process, since TensorFlow waits for the workers in C++ holding the GIL
# (measured), where no Python thread of this process, let alone an exception, can act. It waits for the
# parent to close its stdin (the block ended, or the parent died); if that does not come in time, it
# writes the parent's one line and ends the parent with SIGKILL, which TensorFlow cannot swallow.
_KEEPER = """
import os, select, signal, sys
parent, seconds, message = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
if not select.select([0], [], [], seconds)[0]:
    os.write(2, (message + "\\n").encode())
    os.kill(parent, signal.SIGKILL)
"""


@contextmanager
def _deadline(seconds: float, message: str):
    """End this process with ``message`` (one line on stderr, then SIGKILL) unless the block ends within ``seconds``."""
    import subprocess

    keeper = subprocess.Popen([sys.executable, "-I", "-S", "-c", _KEEPER, str(os.getpid()), str(seconds),
                               f"swaplab.train.worker: {message}"], stdin=subprocess.PIPE,
                              stderr=_quiet.original_stderr())
    try:
        yield
    finally:
        keeper.stdin.close()  # the block ended: the keeper leaves quietly
        keeper.wait()


def start(peer_timeout: float | None = None):
    """The strategy, once every worker TF_CONFIG names has started; before any other TensorFlow work.

    Waits at most ``peer_timeout`` seconds (``distribute.peer_timeout``) for the others to answer
    (``distribute.PeerTimeout``), as long again for TensorFlow to connect them (``_deadline``: the
    line, then SIGKILL).
    SIGTERM and Ctrl-C end the wait as ``_Stopped``. Once the strategy exists, SIGTERM gets the
    handling it had before, not TensorFlow's, which swallows it: the default (end the process) until
    ``train.train`` makes it stop training as Ctrl-C does (save, then ``train.Interrupted``).
    """
    timeout = distribute.peer_timeout(peer_timeout)
    deadline = _deadline(timeout, f"the workers TF_CONFIG names answered, but TensorFlow did not connect them within "
                                  f"{timeout:g} s (one may have stopped meanwhile): stop every worker and start all of "
                                  "them again with the same command") if distribute.tf_config_workers() > 1 else nullcontext()
    previous = signal.signal(signal.SIGTERM, _terminated)  # until TensorFlow puts its own handler there
    try:
        with distribute.peers_joined(timeout):
            import tensorflow  # noqa: F401  (seconds) while this worker's port still answers the others
        with deadline:
            # MultiWorkerMirroredStrategy before any other TensorFlow work: it sets up the cluster's runtime
            return distribute.select_strategy()
    except (KeyboardInterrupt, files.Terminated) as e:
        sig = signal.SIGINT if isinstance(e, KeyboardInterrupt) else signal.SIGTERM
        why = " ".join(getattr(e, "__notes__", [])) or "before training started"
        raise _Stopped(f"stopped by {'Ctrl-C (SIGINT)' if sig == signal.SIGINT else 'SIGTERM'} {why}", 128 + sig) from None
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config", help="JSON file of TrainConfig fields, e.g. weights/<project>/<run>/config.json")
    ap.add_argument("--steps", type=int, help="train to this many steps in total (overrides the config's STEPS)")
    ap.add_argument("--synthetic", type=int, metavar="N", default=0,
                    help="train on N cartoon faces per person (swaplab.train.testing.synthetic_faces) instead of the "
                         "face sets: to try a cluster, and for tests and benchmarks")
    ap.add_argument("--peer-timeout", type=float, metavar="SECONDS",
                    help=f"wait at most this long for the other workers TF_CONFIG names to start "
                         f"(default: $SWAPLAB_PEER_TIMEOUT, else {distribute.PEER_TIMEOUT:g})")
    args = ap.parse_args(argv)
    strategy = start(args.peer_timeout)
    from swaplab.train import loop as tr
    from swaplab.train.testing import synthetic_faces

    config = read_config(args.config, args.steps)
    data = None
    if args.synthetic:
        data = tuple(synthetic_faces(args.synthetic, config.image_size, person=p, seed=config.seed) for p in (0, 1))
    worker, workers, chief = distribute.worker_info(strategy)
    checksum = _weights_sum()
    try:
        report = tr.train(config, callbacks=[checksum], data=data, strategy=strategy)
    except tr.Interrupted as e:  # the chief saved the step it reached; the others write no checkpoint
        how = "SIGTERM" if e.signum == signal.SIGTERM else "Ctrl-C (SIGINT)"
        where = e.where if chief else f"(worker {worker}: the chief's checkpoints in {config.run_dir} hold the run)"
        raise _Stopped(f"stopped by {how} {where}; start every worker again with the same command to continue "
                       "from there", 128 + e.signum) from None
    report = {**report, "worker": worker, "workers": workers, "chief": chief, "weights_sum": checksum.value}
    print("WORKER_REPORT " + json.dumps(report), flush=True)
    return report


def _run(argv=None) -> int:
    """``main`` with one-line errors: 2 for bad input, 3 when another worker of the cluster is lost, 4 when one
    never started, 130 when Ctrl-C stopped it (waiting for the others, or training); SIGTERM ends it by SIGTERM."""
    _quiet.install()  # before TensorFlow loads: its C++ chatter (cuInit on a machine without a GPU, ...) stays out
    try:
        main(argv)
    except distribute.PeerTimeout as e:
        print(f"swaplab.train.worker: {e}", file=sys.stderr)
        return 4
    except _Stopped as e:
        print(f"swaplab.train.worker: {e}", file=sys.stderr)
        if e.code == 128 + signal.SIGTERM:  # after the save: the sender sees a death by SIGTERM
            stopping.end_by_signal(signal.SIGTERM)
        return e.code
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        print(f"swaplab.train.worker: {e}", file=sys.stderr)
        return 2
    except Exception as e:
        import tensorflow as tf

        if not isinstance(e, (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.CancelledError)):
            raise
        first = " ".join(str(e.message).split())[:300]
        print(f"swaplab.train.worker: another worker stopped or cannot be reached ({first}); stop every worker "
              "and start all of them again with the same command: they resume from the chief's last checkpoint",
              file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(_run())
