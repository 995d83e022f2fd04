"""End-to-end conversion speed at 720p: fps, its ratio to real time (25 fps), and ms per stage.

The clip is a GRID sample looped to 12 s and scaled to 720 px high, pillarboxed to
1280x720 (no stretching: the face stays a face), with its audio; it is made once
with ffmpeg and cached. The model is "lite" with untrained weights (speed does not depend on
what the weights learned), or with ``--run`` a trained run as 04_swap draws with it: its
autoencoder, then its detail stage (exemplars found by landmarks, the detail net, the paste
from 256 px), which is what a run of the default recipe converts with.

Besides the full run, each stage is timed alone on the same frames (decode only,
landmarks only, model only, encode only), so the output says which one limits the
pipeline on this machine.

    python benchmarks/convert_speed.py [--batch 8] [--detect-width 640] [--preset veryfast] [--seconds 12]
    python benchmarks/convert_speed.py --run weights/demo/main      # the demo's run, with its detail stage
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from swaplab.core import assets, video
from swaplab.swap import pipeline as swap

TARGET_FPS = 25.0
SAMPLE = "samples/grid/s1/bbaf2n.mpg"  # 360x288, 25 fps, 3 s, audio


def make_clip(seconds: float) -> Path:
    """The 1280x720 benchmark clip with audio (cached under $TMPDIR/swaplab-bench/)."""
    out = Path(os.environ.get("TMPDIR", tempfile.gettempdir())) / "swaplab-bench" / f"grid_720p_{seconds:g}s_v2.mp4"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        src = assets.fetch(SAMPLE, progress=False)
        loops = int(np.ceil(seconds / video.probe(src).duration))
        subprocess.run([video.ffmpeg_exe(), "-hide_banner", "-v", "error", "-y", "-stream_loop", str(loops - 1),
                        "-i", str(src), "-t", f"{seconds:g}",
                        "-vf", "scale=900:720:flags=bicubic,pad=1280:720:(ow-iw)/2:0,setsar=1",
                        "-r", "25", "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p",
                        "-c:a", "aac", str(out)], check=True)
    return out


def stage_alone(clip: Path, model, opts: swap.SwapOptions) -> dict:
    """ms per frame of decode, landmarks (+ align), model and encode, each run on its own."""
    res = {}
    t = time.perf_counter()
    frames = [f.image for f in video.FrameReader(clip)]
    res["decode"] = (time.perf_counter() - t) / len(frames) * 1000
    pipe = swap.FramePipeline(model, opts)
    t = time.perf_counter()
    jobs = [pipe.locate(f, i / 25.0, i) for i, f in enumerate(frames)]
    res["landmarks+align"] = (time.perf_counter() - t) / len(frames) * 1000
    faces = [j for js in jobs for j in js]
    pipe.swap_faces(faces[: opts.batch_size])  # trace once
    t = time.perf_counter()
    for i in range(0, len(faces), opts.batch_size):
        pipe.swap_faces(faces[i:i + opts.batch_size])
    res["model"] = (time.perf_counter() - t) / len(frames) * 1000
    swapped = pipe.swap_faces(faces[:1])[0]
    t = time.perf_counter()
    for f, js in zip(frames, jobs):
        pipe.compose(f, js, [swapped] * len(js))
    res["blend"] = (time.perf_counter() - t) / len(frames) * 1000
    pipe.close()
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        with video.VideoWriter(Path(tmp) / "enc.mp4", 25.0, preset=opts.preset, crf=opts.crf) as w:
            for f in frames:
                w.write(f)
        res["encode"] = (time.perf_counter() - t) / len(frames) * 1000
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=swap.SwapOptions.batch_size)
    ap.add_argument("--detect-width", type=int, default=swap.SwapOptions.detect_width)
    ap.add_argument("--preset", default=swap.SwapOptions.preset)
    ap.add_argument("--seconds", type=float, default=12.0)
    ap.add_argument("--tf-threads", type=int, default=0, help="TensorFlow intra-op threads (0 = swap's default)")
    ap.add_argument("--no-stages", action="store_true", help="skip the per-stage runs")
    ap.add_argument("--run", default=None, help="a trained run folder to convert with (its detail stage included)")
    args = ap.parse_args()

    swap.configure_threads(args.tf_threads or None)
    from swaplab.model import runs
    from swaplab.model.models import build_swap_model

    clip = make_clip(args.seconds)
    info = video.probe(clip)
    model = runs.load_cascade(args.run if args.run else build_swap_model("lite"))
    opts = swap.SwapOptions(batch_size=args.batch, detect_width=args.detect_width, preset=args.preset)
    model.swap(np.zeros((args.batch, model.image_size, model.image_size, 3), np.float32))  # trace before timing

    cpu0 = os.times()
    with tempfile.TemporaryDirectory() as tmp:
        report = swap.convert(clip, model, Path(tmp) / "out.mp4", opts, progress=False)
    cpu1 = os.times()
    # CPU seconds of this process and its (waited-for) ffmpeg children: independent of other load on the machine
    cpu = sum(b - a for a, b in zip(cpu0[:4], cpu1[:4]))
    cpu_ms = cpu / report.frames * 1000
    print(f"clip {info.resolution} {info.fps:g} fps {info.duration:.1f}s audio={info.has_audio} · cores {os.cpu_count()} · "
          f"TF threads {args.tf_threads or 'default'} · batch {args.batch} · detect_width {args.detect_width} · "
          f"x264 {args.preset} · {args.run or 'lite, untrained'}: faces drawn at {model.output_size} px")
    print(f"convert: {report.frames} frames in {report.seconds:.1f}s = {report.fps:.1f} fps "
          f"= {report.fps / TARGET_FPS:.2f}x the {TARGET_FPS:g} fps target ({report.faces_swapped} faces)")
    cores = os.cpu_count() or 1
    print(f"  CPU time {cpu_ms:.1f} ms/frame (all threads + ffmpeg) -> at most {cores * 1000 / cpu_ms:.1f} fps "
          f"on {cores} otherwise idle cores; load average now {os.getloadavg()[0]:.1f}")
    print("  ms/frame inside the pipeline (threads overlap): "
          + ", ".join(f"{k} {v:.1f}" for k, v in report.ms_per_frame.items()))
    if args.no_stages:
        return
    alone = stage_alone(clip, model, opts)
    print("  ms/frame each stage alone:                      " + ", ".join(f"{k} {v:.1f}" for k, v in alone.items()))
    busiest = max(alone, key=alone.get)
    print(f"  sum of stages alone {sum(alone.values()):.1f} ms = {1000 / sum(alone.values()):.1f} fps if nothing overlapped; "
          f"pipeline {1000 / report.fps:.1f} ms/frame; biggest stage: {busiest} ({alone[busiest]:.1f} ms) "
          f"on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
