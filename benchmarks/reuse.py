"""Pretrain once, reuse: how much sooner a new pair reaches the quality of a from-scratch run.

1. Pretrain a base run (03_train's PRETRAIN_PEOPLE) on every identity the samples hold
   OTHER than the demo pair: the head-pose GIF speakers (project ``base``).
2. Train the demo pair (s2 -> s1, never seen by the base) from that base (INIT_FROM="base/<run>"),
   probing quality every ``--every`` training minutes (``quality_curve.QualityProbe``).
3. Compare with a from-scratch curve of the same recipe (``--scratch`` result JSON of
   ``quality_curve.py``, or one trained here): the training minutes the warm run needs to reach
   the scratch run's final self-swap SSIM and identity, as a share of the scratch run's minutes.

Pretraining time is reported apart: it is paid once for every later pair.

    python benchmarks/reuse.py --pretrain-min 5 --minutes 4 --every 1 --scratch results/default.json --scratch-minutes 4
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import quality_curve  # noqa: E402
from swaplab.align import build  # noqa: E402
from swaplab.collect import sources as collect  # noqa: E402
from swaplab.core.files import write_json  # noqa: E402
from swaplab.face import faceset  # noqa: E402
from swaplab.judge.numbers import fmt  # noqa: E402
from swaplab.train import loop as train  # noqa: E402

BASE_PEOPLE = {  # person -> (sample key, align options): everyone in the samples who is not in the demo pair
    "c": ("samples/headpose/head-pose-face-detection-female.gif", {}),
    "d": ("samples/headpose/head-pose-face-detection-male.gif", {}),
    "e": ("samples/headpose/head-pose-face-detection-female-and-male.gif", {"max_faces": 2, "identity_max": 0}),
}


def pretrain(data_dir: Path, weights_dir: Path, minutes: float, run: str, overrides: dict) -> dict:
    for person, (key, extra) in BASE_PEOPLE.items():
        collect.add_sources(data_dir, "base", person, [key], progress=False)
        # every frame: a pretraining pool wants variety more than it fears near-duplicates
        build.align_person(data_dir, "base", person, dedupe=0, workers=1, progress=False, **extra)
    config = train.TrainConfig(project="base", run=run, steps=10**7, time_budget_min=minutes, data_dir=str(data_dir),
                               weights_dir=str(weights_dir), pretrain_people=tuple(BASE_PEOPLE), preview_every=10**6,
                               save_every=10**6, **overrides)
    if config.run_dir.exists():
        import shutil

        shutil.rmtree(config.run_dir)
    report = train.train(config)
    print(f"pretrained base/{run}: {report['steps_done']} steps in {report['seconds_this_session'] / 60:.1f} min "
          f"on {sum(len(faceset.FaceSet(data_dir / 'base' / p / 'faces').kept()) for p in BASE_PEOPLE)} faces "
          f"of {len(BASE_PEOPLE) + 1} people", flush=True)
    return report


def reached(curve: list[dict], target: dict) -> float | None:
    """Training minutes of the first probe at or above the target's self-swap SSIM and identity."""
    for p in curve:
        if (p["self_ssim"] or 0) >= target["self_ssim"] and (p["identity_retrieval"] or 0) >= (target["identity_retrieval"] or 0):
            return p["minutes"]
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default="default", help="quality_curve recipe (name or JSON) of the base and the pair")
    ap.add_argument("--pretrain-min", type=float, default=10.0, help="training minutes of the base")
    ap.add_argument("--minutes", type=float, default=10.0, help="training minutes of the new pair")
    ap.add_argument("--every", type=float, default=1.0, help="minutes between probes of the warm run")
    ap.add_argument("--scratch", default=None, help="quality_curve.py result JSON of the same recipe from scratch")
    ap.add_argument("--scratch-minutes", type=float, default=None,
                    help="the scratch probe to match: the last one at or before this many minutes (default: its last)")
    ap.add_argument("--project", default="quality")
    ap.add_argument("--data-dir", default=str(quality_curve.ROOT / "data"))
    ap.add_argument("--weights-dir", default=str(quality_curve.ROOT / "weights"))
    ap.add_argument("--out", default=None, help="write the result JSON here")
    args = ap.parse_args()
    data_dir, weights_dir = Path(args.data_dir), Path(args.weights_dir)

    overrides = quality_curve.RECIPES.get(args.recipe) if args.recipe in quality_curve.RECIPES else json.loads(args.recipe)
    base = pretrain(data_dir, weights_dir, args.pretrain_min, "pretrained", overrides)
    if args.scratch:
        scratch = json.loads(Path(args.scratch).read_text())
    else:
        scratch = quality_curve.run(args.recipe, args.minutes, args.every, data_dir, weights_dir, args.project, None,
                                    "scratch", 0)
    warm = quality_curve.run(args.recipe, args.minutes, args.every, data_dir, weights_dir, args.project,
                             "base/pretrained", "warm", 0)
    probes = [p for p in scratch["curve"] if args.scratch_minutes is None or p["minutes"] <= args.scratch_minutes + 0.05]
    target = probes[-1]
    minutes = reached(warm["curve"], target)
    share = None if minutes is None else minutes / target["minutes"]
    result = {"pretrain": base, "scratch_final": target, "warm_curve": warm["curve"], "minutes_to_scratch_quality": minutes,
              "scratch_minutes": target["minutes"], "share_of_scratch_time": share}
    if args.out:
        write_json(args.out, result)
    print(f"scratch after {target['minutes']:.1f} min: self-swap SSIM {target['self_ssim']:.3f}, identity "
          f"{fmt(target['identity_retrieval'], '.0%')}, detail {fmt(target['detail_ratio'], '.2f')}")
    if minutes is None:
        print(f"from the base: not reached in {args.minutes:g} min (ratio > 1.0)")
    else:
        print(f"from the base: reached after {minutes:.1f} min = {share:.0%} of the from-scratch time (target <= 20 %)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
