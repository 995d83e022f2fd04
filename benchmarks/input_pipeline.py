"""Input pipeline throughput: augmented faces/s from ``make_training_dataset`` vs what the model consumes.

The pipeline must never be the bottleneck: the target is >= 3x the training rate of
the default model. Both are measured here, one after the other, on synthetic faces.

    python benchmarks/input_pipeline.py [--model lite] [--batch 16] [--batches 60]
"""

from __future__ import annotations

import argparse
import time

import tensorflow as tf

from swaplab.model.models import MODELS
from swaplab.train.loop import make_training_dataset
from swaplab.train.testing import synthetic_faces


def pipeline_rate(size: int, batch: int, batches: int) -> float:
    """Faces per second (A and B together) the tf.data pipeline delivers, augmentation included."""
    data = [synthetic_faces(256, size, person=p) for p in (0, 1)]
    it = iter(make_training_dataset(*data, batch, seed=0))
    for _ in range(5):  # fill the prefetch buffers and trace the map function
        next(it)
    t = time.perf_counter()
    for _ in range(batches):
        next(it)
    return 2 * batch * batches / (time.perf_counter() - t)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="lite", choices=sorted(MODELS))
    ap.add_argument("--batch", type=int, default=16, help="faces per side per batch")
    ap.add_argument("--batches", type=int, default=60)
    args = ap.parse_args()
    from train_speed import train_speed  # benchmarks/ is the script's folder, so on sys.path

    size = MODELS[args.model].image_size
    supply = pipeline_rate(size, args.batch, args.batches)
    demand = train_speed(args.model, args.batch, steps=10, jit=False)["faces_per_s"]
    print(f"pipeline {supply:.0f} faces/s, {args.model} trains {demand:.1f} faces/s: ratio {supply / demand:.1f}x "
          f"(target >= 3x) on {tf.config.threading.get_intra_op_parallelism_threads() or 'all'} threads")


if __name__ == "__main__":
    main()
