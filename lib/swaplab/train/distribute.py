"""Hardware: which ``tf.distribute`` strategy and which precision a run trains with.

- A CPU: Keras's default strategy (oneDNN uses all cores), in mixed_bfloat16 where the CPU
  has bf16 units (AMX or AVX512-BF16: ~1.8x the steps of "slim", 1.35x of "lite";
  ``cpu_has_bf16``), else float32.
- One GPU: ``OneDeviceStrategy``, mixed_float16, XLA (``jit_compile``, set by ``train``).
- Several local GPUs: ``MirroredStrategy`` splits each batch over them and all-reduces
  the gradients.
- Several workers (machines, or processes on one machine) named by ``TF_CONFIG``:
  ``MultiWorkerMirroredStrategy`` does the same across them. Start ``python -m
  swaplab.train.worker`` on each (README, "Several machines"). Every worker builds the
  same data pipeline and keeps its share of each global batch (``shard_by_data``); only
  the chief (task 0) writes into the run folder (``write_dir``), and all of them must
  resume from the same step (``check_workers_agree``).

Before the strategy, ``peers_joined`` waits, for at most ``peer_timeout()`` seconds, until
every other task TF_CONFIG names answers on its port, and raises ``PeerTimeout`` naming
the ones that never did. TensorFlow 2.21, as ``MultiWorkerMirroredStrategy`` sets it up,
does not bound that wait (measured): its coordination service's
``cluster_register_timeout_in_ms`` bounds only a worker's connection to the leader, while
the leader waits for the others in ``ensure_initialized`` with no deadline, in C++ that
holds the GIL (no Python thread runs meanwhile) and with TensorFlow's own SIGTERM handler
(its preemption notifier) swallowing SIGTERM. Only ``cluster_register_with_barrier``, a
setting its Python API does not expose, bounds the leader, and it ends in a burst of
multi-line C++ errors. TensorFlow is imported only by the functions that use it, so a
worker can wait for the others before loading it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import time
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    import tensorflow as tf

PEER_TIMEOUT = 120.0  # s a worker waits for the others to start (train_worker --peer-timeout, SWAPLAB_PEER_TIMEOUT)


class PeerTimeout(RuntimeError):
    """A task TF_CONFIG names did not start in time; the message names it and says what to do."""


@dataclass(frozen=True)
class Task:
    """One task of the cluster TF_CONFIG names."""

    kind: str  # "chief" or "worker"
    index: int  # its index among the tasks of its kind
    address: str  # "host:port"

    def __str__(self) -> str:
        return f"{self.kind} {self.index} at {self.address}"


def cpu_has_bf16() -> bool:
    """True when the CPU computes bfloat16 natively (AMX or AVX512-BF16: oneDNN then runs bf16 convs ~2x faster)."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:  # not Linux: assume no
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def compute_dtype(precision: str, on_gpu: bool, bf16: bool | None = None) -> str | None:
    """The Keras dtype policy for PRECISION ("auto" picks by hardware); None = float32.

    ``bf16``: whether the CPU has bf16 units (None: ask ``cpu_has_bf16``).
    """
    if precision == "auto":
        bf16 = cpu_has_bf16() if bf16 is None else bf16
        return "mixed_float16" if on_gpu else ("mixed_bfloat16" if bf16 else None)
    return None if precision == "float32" else precision


def tf_config_workers() -> int:
    """How many workers (a "chief" counts as one) the TF_CONFIG environment variable names; 1 without it."""
    me, others = cluster_tasks()
    return 1 + len(others) if me else 1


def cluster_tasks() -> tuple[Task | None, list[Task]]:
    """(this task, the other tasks) of the TF_CONFIG environment variable, chief first; (None, []) without it."""
    text = os.environ.get("TF_CONFIG", "").strip()
    if not text:
        return None, []
    example = '{"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", "index": 0}}'
    try:
        spec = json.loads(text)
        cluster, task = spec["cluster"], spec["task"]
        tasks = [Task(kind, i, str(a)) for kind in ("chief", "worker") for i, a in enumerate(cluster.get(kind, []))]
        if task["type"] not in ("chief", "worker") or not 0 <= int(task["index"]) < len(cluster[task["type"]]):
            raise ValueError(f"task {task} is not in the cluster")
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"TF_CONFIG={text[:200]!r} is not a cluster spec ({type(e).__name__}: {e}): "
                         f"set it like {example}, or unset it to train on this machine alone") from None
    me = next(t for t in tasks if (t.kind, t.index) == (task["type"], int(task["index"])))
    return me, [t for t in tasks if t != me]


def peer_timeout(seconds: float | None = None) -> float:
    """``seconds`` if given, else $SWAPLAB_PEER_TIMEOUT, else ``PEER_TIMEOUT``; checked to be a positive number."""
    value, name = (seconds, "--peer-timeout") if seconds is not None else \
        (os.environ.get("SWAPLAB_PEER_TIMEOUT", "").strip() or PEER_TIMEOUT, "SWAPLAB_PEER_TIMEOUT")
    try:
        value = float(value)
        if not 0 < value < float("inf"):
            raise ValueError
    except ValueError:
        raise ValueError(f"{name}={value!r} is not a number of seconds above 0: give how long a worker waits for "
                         f"the others to start, e.g. {PEER_TIMEOUT:g}") from None
    return value


@contextmanager
def peers_joined(timeout: float, poll: float = 0.25) -> Iterator[None]:
    """Wait until every other task TF_CONFIG names answers on its port; at most ``timeout`` seconds.

    Meanwhile this task's own port answers theirs (a plain listener, closed on leaving the block so
    that TensorFlow's server can take the port): workers started in any order find each other, and
    none starts TensorFlow's unbounded wait before all of them are up. Prints one line when it has
    to wait; raises ``PeerTimeout`` naming the tasks that never answered. Any exception while it
    waits (Ctrl-C, SIGTERM made an exception) gets a note naming them. Without TF_CONFIG, or with
    one task in it, it yields at once.
    """
    me, others = cluster_tasks()
    if not others:
        yield
        return
    listener = _hold_port(me)
    try:
        _wait_for(others, timeout, poll)
        yield
    finally:
        listener.close()


def _hold_port(me: Task) -> socket.socket:
    """A listening socket on this task's port, on every interface, as TensorFlow's server will listen."""
    port = int(me.address.rsplit(":", 1)[1])
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("", port))
        sock.listen(64)  # peers' probes wait in the backlog and are reset on close: nothing is ever accepted
    except OSError as e:
        sock.close()
        raise RuntimeError(f"{me} (this task): port {port} is in use on this machine ({e.strerror}): stop what "
                           "holds it (a worker of an earlier run?), or give this task another port in TF_CONFIG") from None
    return sock


def _wait_for(others: list[Task], timeout: float, poll: float) -> None:
    """Return once every task of ``others`` accepts a connection; raise ``PeerTimeout`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    missing, said = list(others), False
    try:
        while True:
            missing = [t for t in missing if not _answers(t.address, min(1.0, max(deadline - time.monotonic(), 0.1)))]
            if not missing:
                return
            if time.monotonic() >= deadline:
                raise PeerTimeout(_not_joined(missing, timeout))
            if not said:  # one line, so that a worker started first is seen waiting, not hanging
                print(f"waiting up to {timeout:g} s for {_names(missing)} (TF_CONFIG) to start", flush=True)
                said = True
            time.sleep(poll)
    except PeerTimeout:
        raise
    except BaseException as e:  # Ctrl-C, SIGTERM: the caller's one line says what it was waiting for
        e.add_note(f"while waiting for {_names(missing)} to join")
        raise


def _answers(address: str, timeout: float) -> bool:
    """True when something accepts a TCP connection at ``address`` ("host:port")."""
    host, port = address.rsplit(":", 1)
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return True
    except OSError:
        return False


def _names(tasks: list[Task]) -> str:
    return ", ".join(map(str, tasks))


def _not_joined(missing: list[Task], timeout: float) -> str:
    """The one line of a ``PeerTimeout``: who did not join, and what to do."""
    def task_of(t: Task) -> str:
        return f"task index {t.index}" if t.kind == "worker" else f"task type {t.kind!r}, index {t.index}"

    if len(missing) == 1:
        (t,) = missing
        return (f"{t} did not join within {timeout:g} s: start it with the same TF_CONFIG ({task_of(t)}), "
                "or remove it from the cluster")
    return (f"{_names(missing)} did not join within {timeout:g} s: start each with the same TF_CONFIG and its own "
            f"task ({'; '.join(map(task_of, missing))}), or remove them from the cluster")


def select_strategy() -> tf.distribute.Strategy:
    """MultiWorkerMirroredStrategy if TF_CONFIG names several workers; else MirroredStrategy over all
    local GPUs if more than one, the GPU if one, else the CPU default. Several workers: call it once
    ``peers_joined`` has seen them all, or TensorFlow may wait for a missing one without end."""
    import tensorflow as tf

    workers = tf_config_workers()
    if workers > 1:
        try:
            return tf.distribute.MultiWorkerMirroredStrategy()
        except RuntimeError as e:  # "Collective ops must be configured at program startup"
            raise RuntimeError(f"TF_CONFIG names {workers} workers but TensorFlow already ran in this process "
                               f"({e}): start each worker with python -m swaplab.train.worker CONFIG "
                               "(README, 'Several GPUs, several machines'), or unset TF_CONFIG") from None
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy([g.name for g in gpus])
    if gpus:
        return tf.distribute.OneDeviceStrategy(gpus[0].name)
    return tf.distribute.get_strategy()


def worker_info(strategy: tf.distribute.Strategy) -> tuple[int, int, bool]:
    """(this worker's index, number of workers, is it the chief) of a strategy; (0, 1, True) on one machine."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or resolver.task_type is None:
        return 0, 1, True
    cluster = resolver.cluster_spec().as_dict()
    n = len(cluster.get("chief", [])) + len(cluster.get("worker", []))
    task_type, task_id = resolver.task_type, int(resolver.task_id or 0)
    chief = task_type == "chief" or (task_type == "worker" and task_id == 0 and "chief" not in cluster)
    index = task_id + len(cluster.get("chief", [])) if task_type == "worker" else 0
    return index, n, chief


@contextmanager
def write_dir(run_dir: Path, strategy: tf.distribute.Strategy):
    """The folder this worker writes its checkpoints, history and previews to: the run folder on
    the chief, a temporary folder (removed at the end, however the run ends) on the other workers."""
    index, _, chief = worker_info(strategy)
    if chief:
        yield run_dir
        return
    scratch = Path(tempfile.mkdtemp(prefix=f"swaplab-worker{index}-")) / run_dir.name
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch.parent, ignore_errors=True)


def check_workers_agree(strategy: tf.distribute.Strategy, config: dict, step: int, weights_dir: str) -> None:
    """With several workers: raise on every worker unless all resume from the same step with the same
    settings (paths aside), which a run folder that not all workers can read would break."""
    import tensorflow as tf

    _, n, _ = worker_info(strategy)
    if n == 1:
        return
    same = {k: v for k, v in config.items() if k not in ("data_dir", "weights_dir", "interactive")}
    mine = tf.constant([[step, zlib.crc32(json.dumps(same, sort_keys=True, default=str).encode())]], tf.int64)

    def gather():
        return tf.distribute.get_replica_context().all_gather(mine, axis=0)

    every = tf.function(lambda: strategy.run(gather), autograph=False)()
    rows = strategy.experimental_local_results(every)[0].numpy()
    if len({int(r[0]) for r in rows}) > 1:
        raise RuntimeError(f"the workers resume from different steps {[int(r[0]) for r in rows]} (worker 0 first): "
                           f"WEIGHTS_DIR={weights_dir!r} must be a folder every worker reads (shared "
                           "storage), or copy the chief's run folder to each machine before starting")
    if len({int(r[1]) for r in rows}) > 1:
        raise RuntimeError("the workers were started with different training settings: give every worker "
                           "the same config file")


def shard_by_data() -> tf.data.Options:
    """Dataset options for several workers: every worker runs the whole pipeline and keeps its replicas'
    slices of each global batch (the in-memory faces have no files to shard by)."""
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return options
