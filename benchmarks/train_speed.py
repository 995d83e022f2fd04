"""Training speed per model: faces/s, achieved GFLOP/s and its share of the fp32 matmul peak.

The peak is measured in the same run (a 2048x2048 tf.matmul repeated), so the ratio is
comparable across machines. Achieved GFLOP/s = faces/s x ``flops_per_face`` (convs and
Dense layers, forward + backward); loss, optimizer and elementwise work count as overhead.
The input is one fixed batch (no augmentation): benchmarks/input_pipeline.py measures that.

    python benchmarks/train_speed.py [--models lite original] [--batch 32] [--steps 20] [--jit]
"""

from __future__ import annotations

import argparse
import time

import keras
import numpy as np
import tensorflow as tf

from swaplab.model.models import MODELS, build_swap_model, flops_per_face, param_count


def matmul_peak(n: int = 2048, repeats: int = 30) -> float:
    """fp32 GFLOP/s of a large square matmul: the practical ceiling for dense convs."""
    a, b = tf.random.normal((n, n)), tf.random.normal((n, n))
    f = tf.function(lambda a, b: tf.matmul(a, b))
    f(a, b).numpy()
    best = 0.0
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(repeats):
            c = f(a, b)
        c.numpy()
        best = max(best, 2 * n**3 * repeats / (time.perf_counter() - t) / 1e9)
    return best


def train_speed(name: str, batch: int, steps: int, jit: bool) -> dict:
    """faces/s of ``SwapModel.train_step`` through ``fit`` on one fixed batch per side."""
    keras.utils.set_random_seed(0)
    model = build_swap_model(name)
    s = model.image_size
    rng = np.random.default_rng(0)
    face = rng.random((batch, s, s, 3), np.float32)
    mask = np.ones((batch, s, s, 2), np.float32)
    data = {f"{k}_{side}": v for side in "ab" for k, v in (("warped", face), ("target", face), ("mask", mask))}
    ds = tf.data.Dataset.from_tensors(data).repeat().prefetch(4)
    model.compile(optimizer=keras.optimizers.Adam(1e-4, beta_1=0.5), jit_compile=jit)
    model.fit(ds, steps_per_epoch=3, epochs=1, verbose=0, shuffle=False)  # trace and warm up
    best = 0.0
    for _ in range(2):
        t = time.perf_counter()
        model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)
        best = max(best, 2 * batch * steps / (time.perf_counter() - t))  # faces of A and B per second
    return {"model": name, "params": param_count(model), "gflop_per_face": flops_per_face(model) / 1e9,
            "faces_per_s": best, "gflops": best * flops_per_face(model) / 1e9}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["lite", "original"], choices=sorted(MODELS))
    ap.add_argument("--batch", type=int, default=32, help="faces per side per step")
    ap.add_argument("--steps", type=int, default=20, help="timed steps per model")
    ap.add_argument("--jit", action="store_true", help="XLA jit_compile=True (measured: slower on CPU)")
    args = ap.parse_args()
    peak = matmul_peak()
    print(f"fp32 matmul peak: {peak:.1f} GFLOP/s  ({len(tf.config.list_physical_devices('GPU'))} GPU)")
    for name in args.models:
        r = train_speed(name, args.batch, args.steps, args.jit)
        print(f"{name:9s} params {r['params'] / 1e6:6.2f} M  train {r['gflop_per_face']:6.2f} GFLOP/face  "
              f"{r['faces_per_s']:7.1f} faces/s  {r['gflops']:6.1f} GFLOP/s  {100 * r['gflops'] / peak:5.1f} % of peak")


if __name__ == "__main__":
    main()
