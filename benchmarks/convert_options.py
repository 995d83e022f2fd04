"""What each 04_swap option for real footage costs, in ms per frame against the default, at 720p.

Same clip and model as ``convert_speed.py`` (a GRID speaker looped to 720p, "lite"
untrained). Every configuration converts the same frames in this one process,
in rounds (A, B, C, ... then again), so load from other work on the machine
falls on all of them alike; the figure per option is the median over rounds of
its wall ms per frame minus the default's in the same round, and the same for
CPU ms per frame (this process and its ffmpeg children).

- ``default``: TARGET "largest" (MediaPipe tracks one face), scene cuts on, MASK "hull"
- ``no-cuts``: the same without the scene-cut check (what the default did before)
- ``largest-of-4``: "largest" among up to 4 faces (MediaPipe's detector then runs every frame)
- ``identity``: only the source person (their identity from 16 crops of another clip of the same speaker)
- ``all``, ``hull-hair`` (hair segmentation per face), ``preview`` (an on_preview callback every 5 s, JPEG-encoded)

    python benchmarks/convert_options.py [--seconds 12] [--rounds 2] [--only default,identity]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from swaplab.core import assets, video
from swaplab.face import align
from swaplab.swap import pipeline as swap

CONFIGS = {
    "default": {},
    "no-cuts": {"cut_threshold": 0.0},
    "largest-of-4": {"max_faces": 4},
    "identity": {"target": "identity"},
    "all": {"target": "all"},
    "hull-hair": {"mask": "hull-hair"},
    "preview": {},
}


def source_crops(n: int = 16) -> np.ndarray:
    """Aligned crops of the benchmark speaker (GRID s1) from another of their clips: the 'face set'."""
    from swaplab.face.landmarks import Landmarker

    crops = []
    with Landmarker("image", num_faces=1, blendshapes=False) as lm:
        for f in video.FrameReader(assets.fetch("samples/grid/s1/lbaq6p.mpg", progress=False), every=4):
            faces = lm.detect(f.image)
            if faces:
                crops.append(align.crop_face(f.image, faces[0].landmarks, 160)[0])
    return np.stack(crops[:n])


def run(clip: Path, model, name: str, source) -> tuple[float, float, swap.ConvertReport]:
    """(wall ms/frame, CPU ms/frame, report) of one conversion."""
    opts = dataclasses.replace(swap.SwapOptions(), **CONFIGS[name])
    shown = []
    preview = (lambda a, b: shown.append(cv2.imencode(".jpg", np.hstack([a, b]))[1].nbytes)) if name == "preview" else None
    cpu0 = os.times()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        report = swap.convert(clip, model, Path(tmp) / "out.mp4", opts, progress=False, source=source,
                              on_preview=preview, preview_every=5.0)
        wall = time.perf_counter() - t0
    cpu = sum(b - a for a, b in zip(cpu0[:4], os.times()[:4]))
    return 1000 * wall / report.frames, 1000 * cpu / report.frames, report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=12.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--only", default=",".join(CONFIGS), help="comma-separated configurations (default first)")
    args = ap.parse_args()
    names = [n for n in args.only.split(",") if n]
    if names[0] != "default":
        names.insert(0, "default")

    swap.configure_threads()
    from convert_speed import make_clip
    from swaplab.model.models import build_swap_model

    clip = make_clip(args.seconds)
    model = build_swap_model("lite")
    model.swap(np.zeros((8, model.image_size, model.image_size, 3), np.float32))  # trace before timing
    source = source_crops() if "identity" in names else None
    walls = {n: [] for n in names}
    cpus = {n: [] for n in names}
    for r in range(args.rounds):
        for n in names:
            wall, cpu, report = run(clip, model, n, source)
            walls[n].append(wall)
            cpus[n].append(cpu)
            extra = f" embedded {report.embedded}" if n == "identity" else ""
            print(f"round {r + 1} {n:<10} {wall:6.1f} ms/frame wall, {cpu:6.1f} ms/frame CPU, "
                  f"{report.faces_swapped}/{report.frames} faces{extra}, cuts {len(report.cuts)}", flush=True)
    print(f"\n{video.probe(clip).resolution}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
          f"cost against 'default' in the same round (median of {args.rounds}):")
    for n in names:
        d_wall = statistics.median(w - d for w, d in zip(walls[n], walls["default"]))
        d_cpu = statistics.median(c - d for c, d in zip(cpus[n], cpus["default"]))
        print(f"  {n:<10} {statistics.median(walls[n]):6.1f} ms/frame wall ({d_wall:+6.1f}), "
              f"{statistics.median(cpus[n]):6.1f} ms/frame CPU ({d_cpu:+6.1f}) "
              f"= {1000 / statistics.median(walls[n]):.1f} fps")


if __name__ == "__main__":
    main()
