"""Hardware: which ``tf.distribute`` strategy and which precision a run trains with.

- A CPU: Keras's default strategy (oneDNN uses all cores), in mixed_bfloat16 where the CPU
  has bf16 units (AMX or AVX512-BF16: ~1.8x the steps of "slim", 1.35x of "lite";
  ``cpu_has_bf16``), else float32.
- One GPU: ``OneDeviceStrategy``, mixed_float16, XLA (``jit_compile``, set by ``train``).
- Several local GPUs: ``MirroredStrategy`` splits each batch over them and all-reduces
  the gradients.
- Several workers (machines, or processes on one machine) named by ``TF_CONFIG``:
  ``MultiWorkerMirroredStrategy`` does the same across them. Start ``python -m
  swaplab.train_worker`` on each (README, "Several machines"). Every worker builds the
  same data pipeline and keeps its share of each global batch (``shard_by_data``); only
  the chief (task 0) writes into the run folder (``write_dir``), and all of them must
  resume from the same step (``check_workers_agree``).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zlib
from contextlib import contextmanager
from pathlib import Path

import tensorflow as tf


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
    text = os.environ.get("TF_CONFIG", "").strip()
    if not text:
        return 1
    example = '{"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", "index": 0}}'
    try:
        spec = json.loads(text)
        cluster, task = spec["cluster"], spec["task"]
        n = len(cluster.get("chief", [])) + len(cluster.get("worker", []))
        if task["type"] not in ("chief", "worker") or not 0 <= int(task["index"]) < len(cluster[task["type"]]):
            raise ValueError(f"task {task} is not in the cluster")
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"TF_CONFIG={text[:200]!r} is not a cluster spec ({type(e).__name__}: {e}): "
                         f"set it like {example}, or unset it to train on this machine alone") from None
    return n


def select_strategy() -> tf.distribute.Strategy:
    """MultiWorkerMirroredStrategy if TF_CONFIG names several workers; else MirroredStrategy over all
    local GPUs if more than one, the GPU if one, else the CPU default."""
    workers = tf_config_workers()
    if workers > 1:
        try:
            return tf.distribute.MultiWorkerMirroredStrategy()
        except RuntimeError as e:  # "Collective ops must be configured at program startup"
            raise RuntimeError(f"TF_CONFIG names {workers} workers but TensorFlow already ran in this process "
                               f"({e}): start each worker with python -m swaplab.train_worker CONFIG "
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
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return options
