"""Face extraction speed: decode + landmarks + align + crop write (+ sampled identity), frames per second.

Prints fps for one process working through ``--clips`` GRID s1 clips (360x288)
in turn, then for all cores with twice as many clips in parallel processes
(``build.align_person`` with ``workers``), each as a ratio to the 40 fps per
process target. Times include starting the processes and loading MediaPipe in
each, so short runs understate the steady rate. Run:
``python benchmarks/extract.py [--clips 4] [--identity-every 25] [--max-faces 1]``.
"""

import argparse
import os
import shutil
import tempfile
import time

from swaplab.align import build
from swaplab.align import config as align_config
from swaplab.core import assets, paths

TARGET = 40.0  # fps per process at 360p


def run(keys: list[str], workers: int, identity_every: int, max_faces: int) -> tuple[float, int]:
    """(seconds, frames) to align ``keys`` as one person's sources from scratch."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = paths.sources_dir(tmp, "bench", "p")
        folder.mkdir(parents=True)
        for k in keys:
            shutil.copy(assets.fetch(k), folder)
        t0 = time.perf_counter()
        fs = build.align_person(tmp, "bench", "p", identity_every=identity_every, max_faces=max_faces,
                                  workers=workers, progress=False)
        return time.perf_counter() - t0, fs.summary["frames_read"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=4, help="clips for the one-process run (twice as many for all cores)")
    ap.add_argument("--identity-every", type=int, default=align_config.IDENTITY_EVERY, help="0 = no dlib embeddings")
    ap.add_argument("--max-faces", type=int, default=align_config.MAX_FACES, help="faces looked for per frame (2+ is slower)")
    args = ap.parse_args()
    keys = assets.keys("samples/grid/s1/")
    run(keys[:1], 1, args.identity_every, args.max_faces)  # warm-up: model load, file caches
    secs, frames = run(keys[:args.clips], 1, args.identity_every, args.max_faces)
    print(f"1 process:  {frames / secs:6.1f} fps ({frames} frames in {secs:.1f} s), {frames / secs / TARGET:.2f}x the {TARGET:.0f} fps target")
    n = min(2 * args.clips, len(keys))
    workers = min(os.cpu_count() or 1, n)
    secs, frames = run(keys[:n], workers, args.identity_every, args.max_faces)
    fps = frames / secs
    print(f"{workers} processes: {fps:6.1f} fps total ({frames} frames of {n} clips in {secs:.1f} s, incl. process start), "
          f"{fps / workers:.1f} fps per process = {fps / workers / TARGET:.2f}x the target")


if __name__ == "__main__":
    main()
