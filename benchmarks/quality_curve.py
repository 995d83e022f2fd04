"""Quality per CPU minute: train a recipe on the demo pair and score what a person would see, every few minutes.

The pair is the demo's (``swaplab.demo``): A = GRID s2, B = GRID s1 (~1,000 faces),
C and D = distractor identities. At each probe the model, as it is at that moment:

- swaps the held-back s2 clip into s1 (a2b) and scores it with ``evaluate_swap``:
  inner-face detail against the input, N-way identity, pose error;
- self-swaps the held-back s1 clip (b2b) and scores the face SSIM at frame size
  and its detail: the ceiling of any swap this model makes.

Probing is off the training clock (``off_clock_s``): the minutes are training
minutes on this machine. It prints the curve and ends with a line such as
``after 30 min: detail 0.74 of input, self-swap SSIM 0.93, identity 100 % (4-way, 20 frames), pose 2.1 deg``.

    python benchmarks/quality_curve.py --recipe default --minutes 30 --every 5
    python benchmarks/quality_curve.py --recipe default --minutes 10 --init-from pretrain/base   # reuse
    python benchmarks/quality_curve.py --table results/*.json     # the ablation table (docs/ablation.md)
    python benchmarks/quality_curve.py --ceiling                  # what a PERFECT model of 64 / 128 px would score
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import keras

from swaplab import demo, evaluate, figures, identity, paths, swap, train
from swaplab.files import write_json

ROOT = Path(__file__).resolve().parents[1]
# Ablation rows: TrainConfig fields. "classic" is the recipe SwapLab had before the tuning (lite, 64 px,
# constant LR, MAE + DSSIM, constant warp), spelled out so a row never drifts with the defaults; each
# "res128+x" row changes one thing on top of "res128". "default" is whatever TrainConfig now defaults to.
CLASSIC = {"model": "lite", "batch_size": 16, "learning_rate": 5e-4, "lr_schedule": "constant", "warmup_steps": 0,
           "warp_end": 1.0, "edge_weight": 0.0, "clip_norm": 0.0}
RES128 = {**CLASSIC, "model": "lite128"}
RECIPES: dict[str, dict] = {
    "classic": CLASSIC,
    "res128": RES128,
    "res128+cosine": {**RES128, "lr_schedule": "cosine", "warmup_steps": 100, "learning_rate": 1e-3},
    "res128+edges": {**RES128, "edge_weight": 1.0},
    "res128+warpdecay": {**RES128, "warp_end": 0.25},
    "res128+batch8": {**RES128, "batch_size": 8},
    "res128+ema": {**RES128, "ema_momentum": 0.99},
    # the slim rows (docs/ablation.md): 12 minutes on ONE core each, two rows at a time (--threads 1, taskset)
    "lite": {"model": "lite", "learning_rate": 5e-4, "precision": "float32"},  # the default before slim
    "lite+eyes6": {"model": "lite", "learning_rate": 5e-4, "precision": "float32", "eyes_mouth_weight": 6.0},
    "lite+batch8": {"model": "lite", "learning_rate": 5e-4, "precision": "float32", "batch_size": 8},
    "slim@5e-4": {"model": "slim", "learning_rate": 5e-4, "precision": "float32"},
    "slim@5e-4+batch8": {"model": "slim", "learning_rate": 5e-4, "precision": "float32", "batch_size": 8},
    "slim": {"model": "slim", "learning_rate": 1e-3, "precision": "float32"},
    "default": {},  # TrainConfig's own defaults: the tuned recipe
}


class QualityProbe(keras.callbacks.Callback):
    """Scores the model every ``every_min`` training minutes and at the end; its own time is off the clock."""

    def __init__(self, data_dir: Path, project: str, every_min: float, work: Path, identity_frames: int = 20,
                 pictures: Path | None = None):
        super().__init__()
        self.pictures = pictures  # where the last probe's face strips go (full-size crops, input above swap)
        self.data_dir, self.project, self.every, self.work = data_dir, project, every_min * 60, work
        self.identity_frames = identity_frames
        self.embedder = identity.Embedder()
        self.off_clock_s = 0.0
        self.curve: list[dict] = []
        faces = {p: paths.faces_dir(data_dir, project, p) for p in demo.people()}
        self.faces = faces

    def on_train_begin(self, logs=None):
        self.start, self.next, self.step = time.perf_counter(), self.every, 0

    def training_s(self) -> float:
        return time.perf_counter() - self.start - self.off_clock_s

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.training_s() >= self.next:
            self.next += self.every
            self.probe()

    def on_train_end(self, logs=None):
        if not self.curve or self.curve[-1]["step"] != self.step:
            self.probe()
        if self.pictures is not None:
            import cv2

            self.pictures.mkdir(parents=True, exist_ok=True)
            for name, key in (("a2b", demo.HOLDOUT_A), ("b2b", demo.HOLDOUT_B)):
                strip = figures.face_strip(demo_clip(key, self.data_dir), self.work / f"{name}.mp4", n=4)
                cv2.imwrite(str(self.pictures / f"{name}_faces.png"), cv2.cvtColor(strip, cv2.COLOR_RGB2BGR))

    def probe(self) -> None:
        t0 = time.perf_counter()
        minutes = self.training_s() / 60
        ema = keras.callbacks.SwapEMAWeights() if getattr(self.model.optimizer, "use_ema", False) else None
        if ema is not None:  # score what the run would save: the averaged weights (swapped back below)
            ema.set_model(self.model)
            ema.on_test_begin()
        try:
            self._score(t0, minutes)
        finally:
            if ema is not None:
                ema.on_test_end()
        self.off_clock_s += time.perf_counter() - t0

    def _score(self, t0: float, minutes: float) -> None:
        inp_a, inp_b = (demo_clip(k, self.data_dir) for k in (demo.HOLDOUT_A, demo.HOLDOUT_B))
        opts = dict(side_by_side=False, label="", batch_size=16)
        out_a, out_b = self.work / "a2b.mp4", self.work / "b2b.mp4"
        swap.convert(inp_a, self.model, out_a, swap.SwapOptions(direction="a2b", **opts), progress=False)
        swap.convert(inp_b, self.model, out_b, swap.SwapOptions(direction="b2b", **opts), progress=False)
        others = {p: self.faces[p] for p in demo.DISTRACTORS}
        r_swap = evaluate.evaluate_swap(inp_a, out_a, self.faces["a"], self.faces["b"], embedder=self.embedder,
                                        identity_frames=self.identity_frames, progress=False, others=others)
        r_self = evaluate.evaluate_swap(inp_b, out_b, self.faces["b"], self.faces["b"], embedder=self.embedder,
                                        identity_frames=5, progress=False, others={"a": self.faces["a"], **others})
        s, ss = r_swap["summary"], r_self["summary"]
        point = {"minutes": round(minutes, 2), "step": self.step, "detail_ratio": s["detail_ratio"],
                 "identity_retrieval": s["identity_retrieval"], "identity_candidates": s["identity_candidates"],
                 "identity_frames": s["identity_frames"], "within_target_spread": s["within_target_spread"],
                 "dist_target": s["dist_target_mean"], "pose_error_deg": s["pose_error_deg"],
                 "expression_error": s["expression_error"], "self_ssim": ss["face_ssim"],
                 "self_detail_ratio": ss["detail_ratio"], "probe_s": 0.0}
        point["probe_s"] = round(time.perf_counter() - t0, 1)
        self.curve.append(point)
        print(f"  {point['minutes']:6.1f} min  step {self.step:6d}  detail {fmt(s['detail_ratio'], '.2f')}  "
              f"self SSIM {fmt(ss['face_ssim'], '.3f')}  self detail {fmt(ss['detail_ratio'], '.2f')}  "
              f"identity {fmt(s['identity_retrieval'], '.0%')} ({s['identity_candidates']}-way)  "
              f"d(B) {fmt(s['dist_target_mean'], '.3f')}  pose {fmt(s['pose_error_deg'], '.1f')} deg  "
              f"(probe {point['probe_s']:.0f}s)", flush=True)


def fmt(v, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


def demo_clip(key: str, data_dir: Path) -> Path:
    from swaplab import assets

    return assets.fetch(key, data_dir=data_dir, progress=False)


def run(recipe: str, minutes: float, every: float, data_dir: Path, weights_dir: Path, project: str,
        init_from: str | None, run_name: str | None, seed: int, pictures: Path | None = None) -> dict:
    overrides = RECIPES[recipe] if recipe in RECIPES else json.loads(recipe)
    name = run_name or (recipe if recipe in RECIPES else "custom").replace("+", "_")
    demo.prepare(data_dir, project)
    run_dir = paths.run_dir(weights_dir, project, name)
    shutil.rmtree(run_dir, ignore_errors=True)  # a benchmark always starts from scratch (or from --init-from)
    if init_from:  # "project/run" of a base run (e.g. a pretrained one)
        overrides = {**overrides, "init_from": init_from}
    config = train.TrainConfig(project=project, run=name, steps=10**7, time_budget_min=minutes, data_dir=str(data_dir),
                               weights_dir=str(weights_dir), preview_every=10**6, save_every=10**6, seed=seed,
                               **overrides)
    with tempfile.TemporaryDirectory() as tmp:
        probe = QualityProbe(data_dir, project, every, Path(tmp), pictures=pictures)
        print(f"recipe {recipe}: {json.dumps(overrides)} for {minutes:g} training minutes, probe every {every:g}", flush=True)
        report = train.train(config, callbacks=[probe])
    last = probe.curve[-1]
    line = (f"after {last['minutes']:.0f} min: detail {fmt(last['detail_ratio'], '.2f')} of input, self-swap SSIM "
            f"{fmt(last['self_ssim'], '.3f')}, identity {fmt(last['identity_retrieval'], '.0%')} "
            f"({last['identity_candidates']}-way, {last['identity_frames']} frames), pose {fmt(last['pose_error_deg'], '.1f')} deg")
    return {"recipe": recipe, "overrides": overrides, "config": config.to_json(), "minutes": minutes,
            "faces_per_s": report["faces_per_s"], "steps": report["steps_done"], "curve": probe.curve, "line": line}


def ceiling(data_dir: Path, project: str, sizes=(64, 128), sharpen=(0.0, 0.5)) -> list[dict]:
    """The self-swap scores of a PERFECT model of each size (its output is the aligned input crop itself):
    what resizing to the model's crop and pasting back costs, before any learning. No model can beat it."""
    import types

    import numpy as np

    clip, faces = demo_clip(demo.HOLDOUT_B, data_dir), paths.faces_dir(data_dir, project, "b")
    rows = []
    for size in sizes:
        for amount in sharpen:
            perfect = types.SimpleNamespace(image_size=size, swap=lambda crops, to: np.asarray(crops, np.float32) / 255.0)
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "b2b.mp4"
                swap.convert(clip, perfect, out, swap.SwapOptions(direction="b2b", label="", sharpen=amount), progress=False)
                s = evaluate.evaluate_swap(clip, out, faces, faces, identity_frames=1, progress=False)["summary"]
            rows.append({"size": size, "sharpen": amount, "detail_ratio": s["detail_ratio"], "face_ssim": s["face_ssim"]})
            print(f"  perfect {size} px model, sharpen {amount:g}: detail {s['detail_ratio']:.3f}, face SSIM {s['face_ssim']:.3f}")
    return rows


def table(files: list[str]) -> str:
    """A markdown table: one row per result file, the last probe of each."""
    rows = ["| recipe | change | minutes | steps | faces/s | detail | self-swap SSIM | self detail | identity | d(B) | pose (deg) |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for f in files:
        r = json.loads(Path(f).read_text())
        p = r["curve"][-1]
        rows.append(f"| {r['recipe']} | `{json.dumps(r['overrides'])}` | {p['minutes']:.1f} | {r['steps']} | {r['faces_per_s']:.0f} | "
                    f"{fmt(p['detail_ratio'], '.2f')} | {fmt(p['self_ssim'], '.3f')} | {fmt(p['self_detail_ratio'], '.2f')} | "
                    f"{fmt(p['identity_retrieval'], '.0%')} ({p['identity_candidates']}-way) | {fmt(p['dist_target'], '.3f')} | "
                    f"{fmt(p['pose_error_deg'], '.1f')} |")
    return "\n".join(rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default="default", help=f"one of {sorted(RECIPES)} or a JSON dict of TrainConfig fields")
    ap.add_argument("--minutes", type=float, default=30.0, help="training minutes (probing is off the clock)")
    ap.add_argument("--every", type=float, default=5.0, help="training minutes between probes")
    ap.add_argument("--project", default="quality", help="project under --data-dir (built from the samples if missing)")
    ap.add_argument("--data-dir", default=str(ROOT / "data"))
    ap.add_argument("--weights-dir", default=str(ROOT / "weights"))
    ap.add_argument("--init-from", default=None, help="start from this base run, 'project/run' under --weights-dir")
    ap.add_argument("--run", default=None, help="run name (default: the recipe's)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="TensorFlow threads (0 = all cores); 1 to run two rows side by side, "
                    "each pinned to its own core with taskset, at equal CPU")
    ap.add_argument("--out", default=None, help="write the result JSON here, and the last probe's face strips beside it")
    ap.add_argument("--table", nargs="*", help="print the ablation table of these result JSONs and exit")
    ap.add_argument("--ceiling", action="store_true", help="print the self-swap scores of a perfect model of each size and exit")
    args = ap.parse_args()
    if args.threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    if args.table:
        print(table(args.table))
        return 0
    if args.ceiling:
        demo.prepare(Path(args.data_dir), args.project)
        ceiling(Path(args.data_dir), args.project)
        return 0
    result = run(args.recipe, args.minutes, args.every, Path(args.data_dir), Path(args.weights_dir), args.project,
                 args.init_from, args.run, args.seed,
                 Path(args.out).with_suffix("") if args.out else None)
    if args.out:
        write_json(args.out, result)
    print(result["line"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
