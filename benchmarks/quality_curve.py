"""Quality per CPU minute: train a recipe on the demo pair and score what a person would see, every few minutes.

The pair is the demo's (``swaplab.demo``): A = GRID s2, B = GRID s1 (~1,000 faces),
C and D = distractor identities. At each probe the run, as it is at that moment (the
autoencoder, and once it trains, its detail stage: ``detail.Cascade``):

- self-swaps the held-back s1 clip (b2b) and scores its fine and mid detail against the real
  frames (``metrics.band_detail``), beside what perfect 64 and 128 px models score on them;
- swaps the held-back s2 clip into s1 (a2b) and scores N-way identity, pose and expression
  error, and stability (``evaluate_swap``).

Probing is off the training clock (``off_clock_s``): the minutes are training minutes on this
machine, both stages together. It prints the curve and ends with a line such as
``after 30 min: self-swap fine detail 0.75 (perfect 64 px: 0.66), identity 100 % (4-way, 20 frames), pose 2.7 deg``.

    python benchmarks/quality_curve.py --recipe default --minutes 30 --every 10
    python benchmarks/quality_curve.py --recipe detail-degraded --minutes 7.5 --branch default   # detail stage only,
        # on a copy of the autoencoder of the run "default" (the ablation's rows at equal CPU: docs/ablation.md)
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

from swaplab import demo
from swaplab.core import files, paths
from swaplab.core.files import write_json
from swaplab.face import identity
from swaplab.judge import evaluate, figures
from swaplab.judge.numbers import fmt
from swaplab.model import runs
from swaplab.swap import pipeline as swap
from swaplab.train import loop as train

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
    "default": {},  # TrainConfig's own defaults: the tuned recipe (slim, then its detail stage: reconstructions + exemplars)
    # the detail-stage rows (docs/ablation.md): each changes one thing of the default's detail stage
    "no-detail": {"detail_size": 0},  # the autoencoder alone for the whole budget (probe with --sharpen for the unsharp row)
    "detail-degraded": {"detail_pairs": "degraded"},
    "detail-both": {"detail_pairs": "both"},
    "detail-no-exemplars": {"detail_exemplars": False},
    "detail-degraded-no-exemplars": {"detail_pairs": "degraded", "detail_exemplars": False},
    "detail-untrained": {"detail_steps": 1},  # the exemplars' detail over the upscale, the net (almost) untrained
}


class QualityProbe(keras.callbacks.Callback):
    """Scores the run every ``every_min`` training minutes and at the end; its own time is off the clock.

    It follows the run through both stages: while the autoencoder trains, it swaps with it alone; once the
    detail stage trains (``self.model`` is then the ``DetailModel``), with the cascade of both and the run's
    exemplars (``run_dir``). ``sharpen``: the SHARPEN its swaps use (the unsharp-mask row)."""

    def __init__(self, data_dir: Path, project: str, every_min: float, work: Path, run_dir: Path, identity_frames: int = 20,
                 pictures: Path | None = None, sharpen: float = 0.0, autoencoder=None):
        super().__init__()
        self.pictures = pictures  # where the last probe's face strips go (full-size crops, input above swap)
        self.data_dir, self.project, self.every, self.work, self.run_dir = data_dir, project, every_min * 60, work, run_dir
        self.identity_frames, self.sharpen = identity_frames, sharpen
        self.embedder = identity.Embedder()
        self.off_clock_s, self.before_s = 0.0, 0.0  # probing time; training seconds of the stages before this one
        self.curve: list[dict] = []
        self.faces = {p: paths.faces_dir(data_dir, project, p) for p in demo.people()}
        self.autoencoder, self.step = autoencoder, 0  # the autoencoder (a branch: given, with its steps done)

    def on_train_begin(self, logs=None):
        from swaplab.model.detail import DetailModel

        if self.curve or self.step:  # a later stage of the same run: its minutes add to the earlier ones
            self.before_s = self.curve[-1]["minutes"] * 60 if self.curve else self.before_s
        if not isinstance(self.model, DetailModel):
            self.autoencoder = self.model
        self.start, self.next = time.perf_counter(), self.every - self.before_s % self.every
        self.off_at_start = self.off_clock_s

    def training_s(self) -> float:
        return self.before_s + time.perf_counter() - self.start - (self.off_clock_s - self.off_at_start)

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.training_s() - self.before_s >= self.next:
            self.next += self.every
            self.probe()

    def on_train_end(self, logs=None):
        self.probe()
        self.write_pictures()

    def cascade(self):
        from swaplab.model.detail import Cascade, DetailModel

        if isinstance(self.model, DetailModel):
            return Cascade(self.autoencoder, self.model, runs.load_banks(self.run_dir))
        return Cascade(self.autoencoder)

    def write_pictures(self) -> None:
        if self.pictures is None:
            return
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
        opts = dict(side_by_side=False, label="", batch_size=16, sharpen=self.sharpen)
        out_a, out_b = self.work / "a2b.mp4", self.work / "b2b.mp4"
        model = self.cascade()
        swap.convert(inp_a, model, out_a, swap.SwapOptions(direction="a2b", **opts), progress=False)
        swap.convert(inp_b, model, out_b, swap.SwapOptions(direction="b2b", **opts), progress=False)
        others = {p: self.faces[p] for p in demo.DISTRACTORS}
        r_swap = evaluate.evaluate_swap(inp_a, out_a, self.faces["a"], self.faces["b"], embedder=self.embedder,
                                        identity_frames=self.identity_frames, progress=False, others=others)
        r_self = evaluate.evaluate_swap(inp_b, out_b, self.faces["b"], self.faces["b"], embedder=self.embedder,
                                        identity_frames=5, progress=False, others={"a": self.faces["a"], **others})
        point = _point(r_swap["summary"], r_self["summary"], minutes, self.step, "detail" if model.detail else "autoencoder")
        point["probe_s"] = round(time.perf_counter() - t0, 1)
        self.curve.append(point)
        print(f"  {point['minutes']:6.1f} min  {point['stage']:>11} step {self.step:6d}  self fine {fmt(point['self_fine'], '.2f')} "
              f"(perfect 64 px {fmt(point['ceiling64_fine'], '.2f')}, 128 px {fmt(point['ceiling128_fine'], '.2f')})  "
              f"self SSIM {fmt(point['self_ssim'], '.3f')}  identity {fmt(point['identity_retrieval'], '.0%')} "
              f"({point['identity_candidates']}-way)  d(B) {fmt(point['dist_target'], '.3f')}  pose {fmt(point['pose_error_deg'], '.1f')} deg  "
              f"jitter {fmt(point['jitter_ratio'], '.2f')}  (probe {point['probe_s']:.0f}s)", flush=True)


def _point(s: dict, own: dict, minutes: float, step: int, stage: str) -> dict:
    """One probe's figures: the self-swap's (sharpness, SSIM, stability) and the swap's (identity, pose, expression, stability)."""
    return {"minutes": round(minutes, 2), "step": step, "stage": stage,
            "self_fine": own["detail_fine"], "self_mid": own["detail_mid"], "self_blur_px": own["detail_fine_blur_px"],
            "ceiling64_fine": own["ceiling64_fine"], "ceiling128_fine": own["ceiling128_fine"],
            "self_ssim": own["face_ssim"], "self_detail_ratio": own["detail_ratio"], "self_expression_error": own["expression_error"],
            "self_jitter_ratio": own["jitter_ratio"], "self_face_change_ratio": own["face_change_ratio"],
            "detail_ratio": s["detail_ratio"], "identity_retrieval": s["identity_retrieval"],
            "identity_candidates": s["identity_candidates"], "identity_frames": s["identity_frames"],
            "within_target_spread": s["within_target_spread"], "dist_target": s["dist_target_mean"],
            "pose_error_deg": s["pose_error_deg"], "expression_error": s["expression_error"],
            "jitter_ratio": s["jitter_ratio"], "face_change_ratio": s["face_change_ratio"], "probe_s": 0.0}


def demo_clip(key: str, data_dir: Path) -> Path:
    from swaplab.core import assets

    return assets.fetch(key, data_dir=data_dir, progress=False)


def run(recipe: str, minutes: float, every: float, data_dir: Path, weights_dir: Path, project: str,
        init_from: str | None, run_name: str | None, seed: int, pictures: Path | None = None, branch: str | None = None,
        sharpen: float = 0.0) -> dict:
    """Train ``recipe`` for ``minutes`` with probes; ``branch``: start from a copy of that run's autoencoder and train
    the detail stage only (its minutes, and the branch's, are the row's)."""
    overrides = RECIPES[recipe] if recipe in RECIPES else json.loads(recipe)
    name = run_name or (recipe if recipe in RECIPES else "custom").replace("+", "_")
    demo.prepare(data_dir, project)
    run_dir = paths.run_dir(weights_dir, project, name)
    shutil.rmtree(run_dir, ignore_errors=True)  # a benchmark always starts from scratch (or from --init-from / --branch)
    if init_from:  # "project/run" of a base run (e.g. a pretrained one)
        overrides = {**overrides, "init_from": init_from}
    steps, autoencoder, before = 10**7, None, 0.0
    if branch:
        steps, before = _branch(paths.run_dir(weights_dir, project, branch), run_dir)
        autoencoder = runs.load(run_dir)
    config = train.TrainConfig(project=project, run=name, steps=steps, time_budget_min=minutes, data_dir=str(data_dir),
                               weights_dir=str(weights_dir), seed=seed,
                               **{"detail_steps": 10**7, "preview_every": 10**6, "save_every": 10**6, **overrides})
    with tempfile.TemporaryDirectory() as tmp:
        probe = QualityProbe(data_dir, project, every, Path(tmp), run_dir, pictures=pictures, sharpen=sharpen,
                             autoencoder=autoencoder)
        probe.before_s = before
        print(f"recipe {recipe}: {json.dumps(overrides)} for {minutes:g} training minutes"
              f"{f' on the autoencoder of {branch} ({before / 60:.1f} min)' if branch else ''}, probe every {every:g}", flush=True)
        report = train.train(config, callbacks=[probe])
    last = probe.curve[-1]
    line = (f"after {last['minutes']:.0f} min: self-swap fine detail {fmt(last['self_fine'], '.2f')} (perfect 64 px: "
            f"{fmt(last['ceiling64_fine'], '.2f')}), identity {fmt(last['identity_retrieval'], '.0%')} "
            f"({last['identity_candidates']}-way, {last['identity_frames']} frames), pose {fmt(last['pose_error_deg'], '.1f')} deg")
    return {"recipe": recipe, "overrides": overrides, "branch": branch, "sharpen": sharpen, "config": config.to_json(),
            "minutes": minutes, "faces_per_s": report["faces_per_s"], "steps": report["steps_done"],
            "detail": report.get("detail"), "curve": probe.curve, "line": line}


def score(run_name: str, data_dir: Path, weights_dir: Path, project: str, sharpen: float = 0.0,
          pictures: Path | None = None) -> dict:
    """One probe of a trained run as it is (its autoencoder and detail stage), with SHARPEN ``sharpen``: a row
    that costs no training of its own (the unsharp mask on the autoencoder alone)."""
    from swaplab.model.detail import Cascade

    run_dir = paths.run_dir(weights_dir, project, run_name)
    cascade = runs.load_cascade(run_dir)
    history = runs.read_history(run_dir) + runs.read_history(run_dir, stage="detail")
    with tempfile.TemporaryDirectory() as tmp:
        probe = QualityProbe(data_dir, project, 10**6, Path(tmp), run_dir, pictures=pictures, sharpen=sharpen,
                             autoencoder=cascade.autoencoder)
        probe.cascade = lambda: Cascade(cascade.autoencoder, cascade.detail, runs.load_banks(run_dir))
        probe._score(time.perf_counter(), sum(h[-1]["time_s"] for h in (runs.read_history(run_dir),
                                                                         runs.read_history(run_dir, stage="detail")) if h) / 60)
        probe.write_pictures()
    config = runs.read_config(run_dir)
    last = probe.curve[-1]
    return {"recipe": f"{run_name} as it is", "overrides": {}, "branch": None, "sharpen": sharpen, "config": config,
            "minutes": last["minutes"], "faces_per_s": None, "steps": config["steps_done"], "history_points": len(history),
            "detail": {"steps_done": config["detail_steps_done"]} if config.get("detail_steps_done") else None,
            "curve": probe.curve, "line": f"{run_name}, SHARPEN={sharpen:g}: self-swap fine detail {fmt(last['self_fine'], '.2f')}"}


def _branch(source: Path, run_dir: Path) -> tuple[int, float]:
    """Copy ``source``'s autoencoder (checkpoint, config, history) into ``run_dir``; (its steps, its training seconds)."""
    run_dir.mkdir(parents=True)
    for name in (runs.CHECKPOINT, runs.CONFIG, runs.HISTORY):
        shutil.copy(source / name, run_dir / name)
    config = runs.read_config(run_dir)
    for key in ("detail_size", "detail_spec", "detail_steps_done"):  # the branch chooses its own detail stage
        config.pop(key, None)
    files.write_json(run_dir / runs.CONFIG, config)
    history = runs.read_history(run_dir)
    return int(config["steps_done"]), float(history[-1]["time_s"]) if history else 0.0


def ceiling(data_dir: Path, project: str) -> dict:
    """What PERFECT models of 64 and 128 px (the aligned input crop itself, stretched back) and blurs of the input score
    on the held-back s1 clip: what resizing to the model's crop and pasting back costs, before any learning."""
    clip, faces = demo_clip(demo.HOLDOUT_B, data_dir), paths.faces_dir(data_dir, project, "b")
    s = evaluate.evaluate_swap(clip, clip, faces, faces, identity_frames=1, progress=False)["summary"]
    for n in (64, 128):
        print(f"  perfect {n} px model: fine {s[f'ceiling{n}_fine']:.3f}, mid {s[f'ceiling{n}_mid']:.3f}")
    for band in ("fine", "mid"):
        print(f"  the input blurred by sigma (px): {band} " + ", ".join(f"{k}: {v:.3f}" for k, v in s[f"detail_{band}_ladder"].items()))
    return s


def table(results: list[str]) -> str:
    """A markdown table: one row per result file, the last probe of each."""
    rows = ["| recipe | change | minutes | steps (+ detail) | self-swap fine (mid) | perfect 64 px | like a blur of | self SSIM "
            "| identity | d(B) | pose (deg) | expression | jitter | face change |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for f in results:
        r = json.loads(Path(f).read_text())
        p = r["curve"][-1]
        change = json.dumps(r["overrides"]) + (f" on {r['branch']}'s autoencoder" if r.get("branch") else "") + \
            (f", SHARPEN={r['sharpen']:g}" if r.get("sharpen") else "")
        steps = f"{r['steps']}" + (f" + {r['detail']['steps_done']}" if r.get("detail") else "")
        rows.append(f"| {r['recipe']} | `{change}` | {p['minutes']:.1f} | {steps} | {fmt(p['self_fine'], '.2f')} "
                    f"({fmt(p['self_mid'], '.2f')}) | {fmt(p['ceiling64_fine'], '.2f')} | {fmt(p['self_blur_px'], '.1f')} px | "
                    f"{fmt(p['self_ssim'], '.3f')} | {fmt(p['identity_retrieval'], '.0%')} ({p['identity_candidates']}-way) | "
                    f"{fmt(p['dist_target'], '.3f')} | {fmt(p['pose_error_deg'], '.1f')} | {fmt(p['expression_error'], '.2f')} | "
                    f"{fmt(p['jitter_ratio'], '.2f')} | {fmt(p['face_change_ratio'], '.2f')} |")
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
    ap.add_argument("--branch", default=None, help="start from a copy of this run's autoencoder (same project) and train the "
                    "detail stage only, for --minutes")
    ap.add_argument("--sharpen", type=float, default=0.0, help="SHARPEN of the probes' swaps (the unsharp-mask row)")
    ap.add_argument("--score", default=None, help="score this trained run (same project) as it is, with --sharpen, and exit")
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
    if args.score:
        result = score(args.score, Path(args.data_dir), Path(args.weights_dir), args.project, args.sharpen,
                       Path(args.out).with_suffix("") if args.out else None)
        if args.out:
            write_json(args.out, result)
        print(result["line"])
        return 0
    result = run(args.recipe, args.minutes, args.every, Path(args.data_dir), Path(args.weights_dir), args.project,
                 args.init_from, args.run, args.seed, Path(args.out).with_suffix("") if args.out else None,
                 args.branch, args.sharpen)
    if args.out:
        write_json(args.out, result)
    print(result["line"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
