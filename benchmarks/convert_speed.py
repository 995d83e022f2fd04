"""End-to-end conversion speed with the cascade: fps, its ratio to real time, and ms per frame and per face per stage.

The clip (``--clip``): "720p", a GRID sample looped to 12 s and scaled to 720 px high, pillarboxed to
1280x720 (no stretching: the face stays a face), with its audio, made once with ffmpeg and cached;
or "native", the same sample looped at its own 360x288 (the demo's clips). The model is what 04_swap
draws with: with ``--run`` a trained run (its autoencoder, then its detail stage: exemplars found by
landmarks, the detail net, the paste from the detail size); without, the default CPU model with
untrained weights and an untrained default detail stage at 4x its size with a bank of exemplars from
another GRID speaker (speed does not depend on what the weights learned).

Besides the full run, each stage is timed alone on the same frames (decode, landmarks + align, the
autoencoder, the detail stage, blend, encode), per frame and per face, so the output says which one
limits the pipeline on this machine.

    python benchmarks/convert_speed.py [--clip 720p|native] [--batch 8] [--detect-width 640] [--preset ultrafast]
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
BANK_SAMPLE = "samples/grid/s2/pwij3p.mpg"  # the untrained cascade's exemplars: another speaker


def _looped(name: str, seconds: float, vf: list[str]) -> Path:
    """The GRID sample looped to ``seconds`` (25 fps, H.264, its audio), through the ffmpeg filter ``vf`` if any;
    cached under $TMPDIR/swaplab-bench/."""
    out = Path(os.environ.get("TMPDIR", tempfile.gettempdir())) / "swaplab-bench" / f"{name}_{seconds:g}s.mp4"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        src = assets.fetch(SAMPLE, progress=False)
        loops = int(np.ceil(seconds / video.probe(src).duration))
        subprocess.run([video.ffmpeg_exe(), "-hide_banner", "-v", "error", "-y", "-stream_loop", str(loops - 1),
                        "-i", str(src), "-t", f"{seconds:g}", *vf, "-r", "25", "-c:v", "libx264", "-preset", "veryfast",
                        "-crf", "20", "-pix_fmt", "yuv420p", "-c:a", "aac", str(out)], check=True)
    return out


def make_clip(seconds: float) -> Path:
    """The 1280x720 benchmark clip with audio: GRID scaled to 720 px high, pillarboxed."""
    return _looped("grid_720p_v2", seconds, ["-vf", "scale=900:720:flags=bicubic,pad=1280:720:(ow-iw)/2:0,setsar=1"])


def native_clip(seconds: float) -> Path:
    """The GRID sample at its own size (360x288, the demo's clips), with audio."""
    return _looped("grid_native", seconds, [])


def untrained_cascade():
    """The default CPU model and a default detail stage at 4x its size, untrained, with B's exemplars: 75 faces of
    another GRID speaker at the detail size (what 04_swap draws with, for speed)."""
    from swaplab.face import align
    from swaplab.face.landmarks import Landmarker
    from swaplab.model import detail, exemplars
    from swaplab.model.models import DEFAULT_CPU_MODEL, MODELS, build_swap_model

    size = MODELS[DEFAULT_CPU_MODEL].image_size
    spec = detail.spec_for(DEFAULT_CPU_MODEL, size, 4 * size)
    crops, points = [], []
    with Landmarker("video", num_faces=1, blendshapes=False) as lm:
        for f in video.FrameReader(assets.fetch(BANK_SAMPLE, progress=False)):
            faces = lm.detect(f.image, int(f.time * 1000))
            if faces:
                crop, m = align.crop_face(f.image, faces[0].landmarks, spec.size)
                crops.append(crop)
                points.append(align.transform_points(faces[0].landmarks, m))
    bank = exemplars.ExemplarBank.from_arrays(np.stack(crops), np.stack(points), sources=np.arange(len(crops)) // 25)
    return detail.Cascade(build_swap_model(DEFAULT_CPU_MODEL), detail.build_detail_model(spec), {"a": bank, "b": bank})


def stage_alone(clip: Path, model, opts: swap.SwapOptions) -> tuple[dict, dict, int, int]:
    """({stage: wall ms per frame}, {stage: CPU ms per frame of this process, all its threads}, frames, faces), each
    stage run on its own: decode, landmarks (+ align), model, detail, blend, encode. CPU time holds on a loaded
    machine where wall time does not (decode and encode run in ffmpeg: their CPU is not counted here)."""
    wall, cpu = {}, {}

    class timed:
        def __init__(self, name):
            self.name = name

        def __enter__(self):
            self.t, self.c = time.perf_counter(), time.process_time()

        def __exit__(self, *exc):
            wall[self.name] = wall.get(self.name, 0.0) + time.perf_counter() - self.t
            cpu[self.name] = cpu.get(self.name, 0.0) + time.process_time() - self.c

    with timed("decode"):
        frames = [f.image for f in video.FrameReader(clip)]
    pipe = swap.FramePipeline(model, opts)
    with timed("landmarks+align"):
        jobs = [pipe.locate(f, i / 25.0, i) for i, f in enumerate(frames)]
    faces = [j for js in jobs for j in js]
    pipe.swap_faces(faces[: opts.batch_size])  # trace once
    for i in range(0, len(faces), opts.batch_size):
        with timed("model+detail"):
            t = dict(pipe.timings)
            pipe.swap_faces(faces[i:i + opts.batch_size])
        for k in ("model", "detail"):  # the split of the wall time between them, as the pipeline times it
            wall[k] = wall.get(k, 0.0) + pipe.timings[k] - t[k]
    swapped = pipe.swap_faces(faces[:1])[0]
    with timed("blend"):
        for f, js in zip(frames, jobs):
            pipe.compose(f, js, [swapped] * len(js))
    pipe.close()
    with tempfile.TemporaryDirectory() as tmp:
        with timed("encode"), video.VideoWriter(Path(tmp) / "enc.mp4", 25.0, preset=opts.preset, crf=opts.crf) as w:
            for f in frames:
                w.write(f)
    share = {k: wall[k] / max(wall["model"] + wall["detail"], 1e-9) for k in ("model", "detail")}
    cpu.update({k: cpu["model+detail"] * share[k] for k in share})  # split as the wall time splits
    for d in (wall, cpu):
        d.pop("model+detail")
    order = ("decode", "landmarks+align", "model", "detail", "blend", "encode")
    return ({k: wall[k] / len(frames) * 1000 for k in order}, {k: cpu[k] / len(frames) * 1000 for k in order},
            len(frames), len(faces))


def per_face(ms_per_frame: dict, frames: int, faces: int) -> str:
    """"stage a ms (b/face)" for every stage: ms per frame, and per face for the stages that work per face."""
    per = {"landmarks", "landmarks+align", "align", "model", "detail", "blend"}
    return ", ".join(f"{k} {v:.1f}" + (f" ({v * frames / max(faces, 1):.1f}/face)" if k in per else "")
                     for k, v in ms_per_frame.items())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=swap.SwapOptions.batch_size)
    ap.add_argument("--detect-width", type=int, default=swap.SwapOptions.detect_width)
    ap.add_argument("--preset", default=swap.SwapOptions.preset)
    ap.add_argument("--clip", choices=("720p", "native"), default="720p", help="1280x720, or GRID's own 360x288")
    ap.add_argument("--seconds", type=float, default=12.0)
    ap.add_argument("--tf-threads", type=int, default=0, help="TensorFlow intra-op threads (0 = swap's default)")
    ap.add_argument("--no-stages", action="store_true", help="skip the per-stage runs")
    ap.add_argument("--run", default=None, help="a trained run folder to convert with (its detail stage included); "
                    "default: the default CPU model and detail stage, untrained")
    args = ap.parse_args()

    swap.configure_threads(args.tf_threads or None)
    from swaplab.model import runs

    clip = make_clip(args.seconds) if args.clip == "720p" else native_clip(args.seconds)
    info = video.probe(clip)
    model = runs.load_cascade(args.run) if args.run else untrained_cascade()
    opts = swap.SwapOptions(batch_size=args.batch, detect_width=args.detect_width, preset=args.preset)
    zeros = np.zeros((args.batch, model.image_size, model.image_size, 3), np.float32)
    model.swap(zeros, landmarks=[np.full((478, 2), model.output_size / 2)] * args.batch)  # trace before timing

    cpu0 = os.times()
    with tempfile.TemporaryDirectory() as tmp:
        report = swap.convert(clip, model, Path(tmp) / "out.mp4", opts, progress=False)
    cpu1 = os.times()
    # CPU seconds of this process and its (waited-for) ffmpeg children: independent of other load on the machine
    cpu = sum(b - a for a, b in zip(cpu0[:4], cpu1[:4]))
    cpu_ms = cpu / report.frames * 1000
    print(f"clip {info.resolution} {info.fps:g} fps {info.duration:.1f}s audio={info.has_audio} · cores {os.cpu_count()} · "
          f"TF threads {args.tf_threads or 'default'} · batch {args.batch} · detect_width {args.detect_width} · "
          f"x264 {args.preset} · {args.run or 'untrained default cascade'}: model {model.image_size} px, faces drawn at "
          f"{model.output_size} px")
    print(f"convert: {report.frames} frames in {report.seconds:.1f}s = {report.fps:.1f} fps "
          f"= {report.fps / info.fps:.2f}x real time ({report.faces_swapped} faces, {report.pasted['frames']} frames pasted)")
    cores = os.cpu_count() or 1
    print(f"  CPU time {cpu_ms:.1f} ms/frame (all threads + ffmpeg) -> at most {cores * 1000 / cpu_ms:.1f} fps "
          f"on {cores} otherwise idle cores; load average now {os.getloadavg()[0]:.1f}")
    print("  ms/frame inside the pipeline (threads overlap): " + per_face(report.ms_per_frame, report.frames,
                                                                         report.faces_swapped))
    if args.no_stages:
        return
    alone, cpu_alone, frames, faces = stage_alone(clip, model, opts)
    print("  ms/frame each stage alone:                      " + per_face(alone, frames, faces))
    print("  CPU ms/frame each stage alone (this process):   " + per_face(cpu_alone, frames, faces))
    busiest = max(alone, key=alone.get)
    print(f"  sum of stages alone {sum(alone.values()):.1f} ms = {1000 / sum(alone.values()):.1f} fps if nothing overlapped; "
          f"pipeline {1000 / report.fps:.1f} ms/frame; biggest stage: {busiest} ({alone[busiest]:.1f} ms) "
          f"on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
