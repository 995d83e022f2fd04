"""07_live's speed: a 640x360 camera played in real time through ``live.LiveSession``, with the detail stage off and on.

The camera is a GRID sample (the s1 speaker, whom an a2b swap takes as A) looped to ``--seconds``, scaled into
640x360 with black bars, offered at ``--fps`` frames per second as the browser's camera would: after each answer
the newest frame is taken (those that came meanwhile are dropped), JPEG-encoded, swapped by the run's full pipeline
(tracking, smoothing, [detail stage], colour, mask, label), answered as a JPEG of original | swapped and decoded.
Latency runs from the frame's capture to its answer decoded (the browser's comm round trip, a few ms on one
machine, is not in it; tests/ui/test_ui_07_live.py reads the widget's own readout in Chromium).

Printed both ways: fps, latency p50/p90/p99, ms per stage (medians), CPU ms per frame (this process, all
threads: what an idle machine would need), and the load average (other programs share the cores).

    python benchmarks/live_speed.py --run weights/demo/main       # the demo's run (read only)
    python benchmarks/live_speed.py                               # a stand-in: the demo's recipe ("slim", 64 px,
                                                                  # detail stage at 256 px with exemplars), 2 steps
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

TARGETS = {False: 15.0, True: 10.0}  # fps: autoencoder only, with the detail stage
LATENCY_TARGET = 150.0  # ms, median
CAMERA = "samples/grid/s1/bbir8p.mpg"  # 360x288, 25 fps, 3 s


def stand_in_run() -> Path:
    """The demo's recipe trained for 2 steps on two GRID clips' faces (cached under $TMPDIR/swaplab-bench/)."""
    from swaplab.core import assets, paths
    from swaplab.face import faceset
    from swaplab.train.loop import TrainConfig, train

    root = Path(os.environ.get("TMPDIR", tempfile.gettempdir())) / "swaplab-bench" / "live_run_v1"
    run = paths.run_dir(root / "weights", "bench", "slim256")
    if (run / "config.json").exists():
        return run
    shutil.rmtree(root, ignore_errors=True)
    data = root / "data"
    for person, key in (("a", "samples/grid/s1/bbaf2n.mpg"), ("b", "samples/grid/s2/pwij3p.mpg")):
        src = paths.sources_dir(data, "bench", person)
        src.mkdir(parents=True)
        shutil.copy(assets.fetch(key, data_dir=data, progress=False), src)
        faceset.align_person(data, "bench", person, face_size=256, sample_fps=12.5, workers=1, progress=False)
    train(TrainConfig(project="bench", run="slim256", model="slim", batch_size=4, steps=2, detail_size=256, detail_steps=2,
                      log_every=1, preview_every=1000, save_every=1000, data_dir=str(data), weights_dir=str(root / "weights")))
    return run


def camera_frames(seconds: float, fps: float) -> list:
    import numpy as np

    from swaplab.core import assets, video
    from swaplab.swap import live

    clip = assets.fetch(CAMERA, progress=False)
    frames = [live.as_camera(f.image) for f in video.FrameReader(clip)]
    frames = frames + frames[::-1]  # played back and forth: no jump for the tracker at the loop
    n = int(seconds * fps)
    return [frames[i % len(frames)] for i in np.arange(n)]


def one_way(model, run_dir: Path, frames: list, detail: bool, fps: float) -> dict:
    from swaplab.swap import live

    config = live.LiveConfig(project="bench", run=run_dir.name, detail=detail, interactive=True,
                             weights_dir=str(run_dir.parent.parent), data_dir=tempfile.gettempdir())
    config.output_dir = Path(tempfile.gettempdir())
    session = live.LiveSession(model, config)
    try:
        live.play_camera(session, frames[: int(fps)], fps)  # warm up: the pipeline built, the model traced
        session.recent.clear()
        cpu0, load0 = os.times(), os.getloadavg()[0]
        result = live.play_camera(session, frames, fps)
        cpu1 = os.times()
        result["cpu_ms"] = sum(b - a for a, b in zip(cpu0[:4], cpu1[:4])) / max(result["shown"], 1) * 1000
        result["load"] = (load0, os.getloadavg()[0])
        result["detail_drawn"] = session.has_detail and detail
    finally:
        session.close()
    return result


def report(name: str, r: dict, target: float) -> None:
    lat, st = r["latency_ms"], r["stage_ms"]
    ok = r["fps"] >= target and lat["p50"] < LATENCY_TARGET
    print(f"{name}: {r['fps']:.1f} fps (target {target:g}) · latency p50 {lat['p50']:.0f} ms, p90 {lat['p90']:.0f}, "
          f"p99 {lat['p99']:.0f} (target p50 < {LATENCY_TARGET:g}) · {'MET' if ok else 'MISSED'}")
    print(f"  {r['shown']} frames shown of {r['camera_frames']} from the camera ({r['dropped']} dropped), "
          f"{r['with_face']} with a face · CPU {r['cpu_ms']:.0f} ms/frame (all threads) · "
          f"load average {r['load'][0]:.1f} -> {r['load'][1]:.1f}")
    print("  ms/frame (medians): " + ", ".join(f"{k} {v:.1f}" for k, v in st.items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default=None, help="a trained run folder (default: the stand-in, built once)")
    ap.add_argument("--seconds", type=float, default=15.0, help="seconds of camera per way")
    ap.add_argument("--fps", type=float, default=30.0, help="the camera's frame rate")
    ap.add_argument("--tf-threads", type=int, default=os.cpu_count(),
                    help="TensorFlow intra-op threads (default: every core, as 07_live sets it; 0 = 04_swap's half)")
    args = ap.parse_args()

    from swaplab.swap import pipeline as swap

    swap.configure_threads(args.tf_threads or None)
    from swaplab.model import runs

    run_dir = Path(args.run) if args.run else stand_in_run()
    model = runs.load_cascade(run_dir)
    frames = camera_frames(args.seconds, args.fps)
    print(f"run {run_dir} ({'demo' if args.run else 'stand-in'}): model at {model.image_size} px, "
          f"faces drawn at {model.output_size} px · camera 640x360 at {args.fps:g} fps for {args.seconds:g} s · "
          f"{os.cpu_count()} cores · TF threads {args.tf_threads or 'default'} · {time.strftime('%Y-%m-%d %H:%M')}")
    for detail in (False, True):
        if detail and model.detail is None:
            print("with the detail stage: this run has none")
            continue
        r = one_way(model, run_dir, frames, detail, args.fps)
        report("with the detail stage" if detail else "autoencoder only", r, TARGETS[detail])


if __name__ == "__main__":
    main()
