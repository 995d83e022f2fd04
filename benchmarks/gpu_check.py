"""The GPU check: the demo pair with a 128 px autoencoder and the detail stage, in mixed_float16, in under 8 minutes.

On a machine with a GPU it prepares the demo pair (``swaplab.demo.prepare``: collect and align
the samples), trains ``--model`` (128 px: the sizes a GPU affords) for ``--minutes`` in
mixed_float16, its share for the detail stage at 256 px, then swaps the held-back s2 clip into s1
(a2b) and self-swaps the held-back s1 clip (b2b), scores both with 05_evaluate's own code, and
prints one line of figures and the ratio it is judged by (the self-swap's fine detail over a
perfect 64 px model's on the same frames: above 1 is sharper than any 64 px CPU model can be):

    python benchmarks/gpu_check.py                        # on the GPU machine: ~8 minutes
    python benchmarks/gpu_check.py --tiny --cpu-ok        # the same code path on a CPU with tiny sizes (a test runs it)

``--tiny`` uses the ``tiny_sketch`` model (32 px, detail at 128), two s1 clips and one s2 clip aligned at
128 px and a short budget: it checks that the mixed_float16 path runs end to end (loss scaling
included), not how well. Without a GPU and without ``--cpu-ok`` it stops at once with one line.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def prepare(data_dir: Path, project: str, tiny: bool) -> None:
    """The demo's people (``demo.prepare``), or for ``--tiny`` two s1 clips as B and one s2 clip as A at 128 px."""
    from swaplab import demo
    from swaplab.align import build
    from swaplab.collect import sources as collect
    from swaplab.core import assets

    if not tiny:
        demo.prepare(data_dir, project)
        return
    people = {"a": ["samples/grid/s2/id2_vcd_swwp2s.mpg"], "b": [k for k in assets.keys("samples/grid/s1/")][:2]}
    for person, keys in people.items():
        collect.add_sources(data_dir, project, person, keys, progress=False)
        build.align_person(data_dir, project, person, face_size=128, sample_fps=12.5, workers=1, progress=False)


def check(args) -> dict:
    import tensorflow as tf

    from swaplab import demo
    from swaplab.core import assets, paths
    from swaplab.judge import evaluate
    from swaplab.model import runs
    from swaplab.swap import pipeline as swap
    from swaplab.train import loop as train

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus and not args.cpu_ok:
        raise SystemExit("no GPU found (tf.config.list_physical_devices('GPU') is empty): run this on the GPU machine, "
                         "or add --cpu-ok to run the same code path on the CPU")
    t0 = time.perf_counter()
    data_dir, weights_dir = Path(args.data_dir), Path(args.weights_dir)
    prepare(data_dir, args.project, args.tiny)
    prepared = time.perf_counter() - t0
    config = train.TrainConfig(project=args.project, run="gpu_check", model="tiny_sketch" if args.tiny else args.model,
                               batch_size=8 if args.tiny else 32, steps=10**7, time_budget_min=args.minutes,
                               precision="mixed_float16", detail_size=128 if args.tiny else 256, data_dir=str(data_dir),
                               weights_dir=str(weights_dir), preview_every=10**6, save_every=10**6, log_every=10)
    shutil.rmtree(config.run_dir, ignore_errors=True)  # a check starts from scratch
    report = train.train(config)
    cascade = runs.load_cascade(config.run_dir)
    faces = {p: paths.faces_dir(data_dir, args.project, p) for p in "ab"}
    clips = {"a2b": demo.HOLDOUT_A, "b2b": demo.HOLDOUT_B}
    summary = {}
    for direction, key in clips.items():
        clip = assets.fetch(key, data_dir=data_dir, progress=False)
        out = Path(args.work) / f"gpu_check_{direction}.mp4"
        conv = swap.convert(clip, cascade, out, swap.SwapOptions(direction=direction, label="", duration=args.seconds),
                            progress=False)
        source = "a" if direction == "a2b" else "b"
        s = evaluate.evaluate_swap(clip, out, faces[source], faces["b"], duration=args.seconds, identity_frames=10,
                                   progress=False)["summary"]
        summary[direction] = {"fps": round(conv.fps, 1), **{k: s[k] for k in (
            "detail_fine", "ceiling64_fine", "ceiling128_fine", "identity_retrieval", "pose_error_deg", "jitter_ratio")}}
    return {"device": [g.name for g in gpus] or ["CPU"], "model": config.model, "precision": report["mixed_precision"],
            "prepare_s": round(prepared, 1), "steps": report["steps_done"], "steps_per_s": report["steps_per_s"],
            "detail_steps": report["detail"]["steps_done"],
            "detail_steps_per_s": report["detail"]["steps_done"] / max(report["detail"]["seconds_this_session"], 1e-9),
            "swaps": summary, "total_s": round(time.perf_counter() - t0, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="lite128_sketch", help="the autoencoder (128 px: lite128[_sketch] or hd128[_sketch])")
    ap.add_argument("--minutes", type=float, default=4.0, help="training minutes, both stages (DETAIL_SHARE of them: the detail stage)")
    ap.add_argument("--seconds", type=float, default=None, help="seconds of each clip to swap and score (None: all 3 s)")
    ap.add_argument("--project", default="gpucheck")
    ap.add_argument("--data-dir", default=str(ROOT / "data"))
    ap.add_argument("--weights-dir", default=str(ROOT / "weights"))
    ap.add_argument("--work", default="/tmp", help="where the swapped clips go")
    ap.add_argument("--tiny", action="store_true", help="tiny sizes: the code path, not the quality (a CPU test)")
    ap.add_argument("--cpu-ok", action="store_true", help="run without a GPU")
    args = ap.parse_args()
    r = check(args)
    own = r["swaps"]["b2b"]
    ratio = own["detail_fine"] / own["ceiling64_fine"] if own["detail_fine"] and own["ceiling64_fine"] else None
    print(json.dumps(r, indent=1))
    print(f"{r['device'][0]} {r['model']} {r['precision']}: {r['steps_per_s']:.2f} steps/s, detail stage "
          f"{r['detail_steps_per_s']:.2f} steps/s; self-swap fine detail {own['detail_fine']:.2f} against a perfect 64 px "
          f"model's {own['ceiling64_fine']:.2f} (ratio {ratio:.2f}; 128 px: {own['ceiling128_fine']:.2f}); a2b identity "
          f"{r['swaps']['a2b']['identity_retrieval']:.0%}, pose {r['swaps']['a2b']['pose_error_deg']:.1f} deg; "
          f"{r['total_s'] / 60:.1f} min in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
