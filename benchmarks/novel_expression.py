"""The novel-expression self-swap (issue 25, item 4): B's held-back clip, with its wide-open mouths taken out of B's face set.

A self-swap on GRID scores high by lookup: B's face set holds a face close to every held-back frame. This
benchmark makes the face set lack the held-back clip's widest mouths on purpose, trains, self-swaps the clip
and judges it with 05_evaluate's library (``swaplab.judge.evaluate``), so the frames the face set lacks are
what a swap asks of B's model, with a full reference.

1. **The project** (under ``--work``): A = GRID s2, B = GRID s1 less the held-back clip (``--holdout``, the
   demo's by default), aligned with the library (``collect.sources.add_sources``, ``align.build.align_person``;
   ``--clips N``: only the first N s1 clips), or copied from a built project (``--copy-from data/demo``).
2. **The cut.** The held-back clip's inner-lip gap per frame (``judge.motion.mouth_gap``: landmarks 13-14 over
   the eye-corner span, MediaPipe in video mode, as 05 measures it). Its **open frames** are the third with the
   widest gap (``OPEN_SHARE``); the cut is the narrowest gap among them. Every kept face of B's face set with a
   gap at or above the cut is dropped (``kept: false``, ``why: "novel expression (benchmark)"``), so nothing B
   trains on, and nothing in its exemplar bank, opens the mouth as wide as any open frame.
3. **Training**: the default CPU recipe for ``--minutes`` (both stages: the detail stage takes its share,
   ``TrainConfig.detail_share``), from scratch.
4. **Self-swap** of the held-back clip (``swap.pipeline.convert``, b2b), after the leak guard
   (``judge.provenance.check_clip``: the clip must be unseen; the benchmark refuses otherwise, ALLOW_SEEN=False).
5. **Judge** (``evaluate.evaluate_swap`` with the run's exemplars: the lookup baseline, the perfect 64 / 128 px
   models, mouth sync), then the per-frame figures split into the **novel** frames (the open frames) and the
   **rest** (``subset``: medians over the subset's frames; 05 has no subset scoring of its own).

It prints self-swap vs lookup vs perfect 64 px on the novel frames and on the rest, the distance to the nearest
exemplar in each, and mouth sync, then the ratio it is judged by: the self-swap's fine detail over the perfect
64 px model's on the novel frames (issue 25: at least 1 where the lookup falls below the perfect 64 px model).

    python benchmarks/novel_expression.py --copy-from /work/main/data/demo --minutes 8 --out /tmp/novel/result.json
    python benchmarks/novel_expression.py --clips 10 --minutes 8      # a fresh project of 10 s1 clips
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np

OPEN_SHARE = 1 / 3  # the held-back clip's widest-mouth third are its "open" frames (set before any run, not tuned)
WHY = "novel expression (benchmark)"
BANDS = ("detail_fine", "lookup_fine", "ceiling64_fine", "ceiling128_fine", "detail_mid", "lookup_mid", "ceiling64_mid")


def load() -> str:
    """The machine's load averages and cores, for the record."""
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min) on {os.cpu_count()} cores"


def clip_gaps(clip: str | Path, start: float = 0.0, duration: float | None = None) -> dict[int, float]:
    """{frame index: inner-lip gap} of the frames of ``clip`` (in the range) with a face, as 05 measures it."""
    from swaplab.core import video
    from swaplab.face.landmarks import Landmarker
    from swaplab.judge import motion

    out = {}
    with Landmarker("video", num_faces=1) as lm:
        for f in video.FrameReader(clip, start=start, duration=duration):
            face = next(iter(lm.detect(f.image, int(round(f.time * 1000)))), None)
            if face is not None:
                out[f.index] = motion.mouth_gap(face.landmarks)
    if not out:
        raise ValueError(f"{clip}: no frame has a face MediaPipe finds: give a clip of a face")
    return out


def prepare_project(data_dir: Path, project: str, holdout: str, clips: int, copy_from: Path | None) -> None:
    """A = GRID s2 (less the demo's held-back s2 clip), B = GRID s1 less ``holdout``: copied or collected and aligned."""
    from swaplab import demo
    from swaplab.align import build
    from swaplab.collect import sources
    from swaplab.core import paths

    if copy_from is not None:
        for person in ("a", "b"):
            dest = paths.person_dir(data_dir, project, person)
            if not (copy_from / person / "faces" / "summary.json").is_file():
                raise FileNotFoundError(f"--copy-from {copy_from}: no face set {person}/faces there: give a built project")
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(copy_from / person, dest, ignore=shutil.ignore_patterns(".*"))
        return
    keys = {"a": demo.people()["a"], "b": [k for k in demo.people()["b"] if k != holdout][:clips or None]}
    for person, ks in keys.items():
        sources.add_sources(data_dir, project, person, ks, progress=False)
        build.align_person(data_dir, project, person, progress=False)


def remove_open_faces(faces_dir: Path, cut: float) -> tuple[int, int]:
    """Drop every kept face of ``faces_dir`` whose inner-lip gap is at least ``cut``; (dropped, kept after)."""
    from swaplab.core import files
    from swaplab.face import faceset
    from swaplab.judge import motion

    fs = faceset.FaceSet(faces_dir)
    dropped = 0
    for r in fs.rows:
        if r["kept"] and motion.mouth_gap(r["landmarks"]) >= cut:
            r["kept"], r["why"] = False, WHY
            dropped += 1
    with files.atomic_path(faces_dir / "index.jsonl") as tmp:
        tmp.write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in fs.rows))
    summary = dict(fs.summary, kept=len(fs.rows) - sum(not r["kept"] for r in fs.rows))
    summary["dropped"] = {**summary.get("dropped", {}), WHY: dropped}
    files.write_json(faces_dir / "summary.json", summary)
    if summary["kept"] == 0:
        raise ValueError(f"{faces_dir}: no face is left under the cut {cut:.3f}: give a clip with a wider mouth")
    return dropped, summary["kept"]


def train_run(data_dir: Path, weights_dir: Path, project: str, run: str, minutes: float, seed: int,
              batch_size: int = 16, model: str | None = None, expressions: float | None = None) -> tuple[Path, dict]:
    """Train the default CPU recipe (or ``model``, or ``expressions``: 03_train's EXPRESSIONS) from scratch for ``minutes``
    (both stages); (run folder, record)."""
    from swaplab.core import paths
    from swaplab.train import loop as train

    run_dir = paths.run_dir(weights_dir, project, run)
    shutil.rmtree(run_dir, ignore_errors=True)  # a benchmark starts from scratch
    config = train.TrainConfig(project=project, run=run, steps=10**7, time_budget_min=minutes, data_dir=str(data_dir),
                               weights_dir=str(weights_dir), seed=seed, batch_size=batch_size, detail_steps=10**7, preview_every=10**6,
                               save_every=10**6, **({"model": model} if model else {}),
                               **({"expressions": expressions} if expressions is not None else {}))
    before, t0 = load(), time.perf_counter()
    report = train.train(config)
    record = {"minutes": minutes, "wall_min": round((time.perf_counter() - t0) / 60, 1), "load_before": before,
              "load_after": load(), "model": report.get("model"), "steps": report.get("steps_done"),
              "faces_per_s": report.get("faces_per_s"), "batch_size": batch_size, "expressions": config.expressions, "detail_steps": (report.get("detail") or {}).get("steps_done"),
              "detail_size": (report.get("detail") or {}).get("size")}
    return run_dir, record


def self_swap(clip: Path, run_dir: Path, out: Path, direction: str, start: float = 0.0, duration: float | None = None) -> dict:
    """Refuse a clip the run trained on (the leak guard, by SHA-256), then swap it with the run's cascade; 04's report."""
    from swaplab.judge import provenance
    from swaplab.model import runs
    from swaplab.swap import pipeline as swap

    guard = provenance.check_clip(run_dir, clip)
    print(f"leak guard: {guard['line']}", flush=True)
    if guard["seen"]:
        raise SystemExit(f"{clip}: the run trained on it ({guard['line']}): a self-swap benchmark needs an unseen clip")
    options = swap.SwapOptions(direction=direction, start=start, duration=duration, side_by_side=False, label="",
                               batch_size=16).validate()
    report = swap.convert(clip, runs.load_cascade(run_dir), out, options, progress=False)
    return report.asdict()


def judge(clip: Path, swapped: Path, run_dir: Path, faces: Path, others: dict, report: dict, start: float = 0.0,
          duration: float | None = None) -> dict:
    """05_evaluate's measures of the self-swap, with the run's exemplars (lookup baseline, distance)."""
    from swaplab.judge import evaluate

    exemplars = evaluate.Exemplars.of_run(run_dir, "b", faces)
    return evaluate.evaluate_swap(clip, swapped, faces, faces, start=start, duration=duration, identity_frames=5,
                                  progress=False, others=others, exemplars=exemplars, report=report)


def mouth_detail(clip: Path, swapped: Path, run_dir: Path, faces: Path, start: float = 0.0,
                 duration: float | None = None) -> dict[int, dict]:
    """{frame index: {"swap", "lookup", "perfect64"}}: fine band detail inside the hull of the input's outer lips
    (``align.LIPS``) only, where the face set's missing mouths show; 05 scores the whole inner face, which the eyes,
    brows and nose (unchanged by the cut) dominate. The same ``band_detail``, lookup and perfect 64 px paste as 05."""
    import cv2

    from swaplab.core import video
    from swaplab.face import align, metrics
    from swaplab.face.landmarks import Landmarker
    from swaplab.judge import evaluate

    exemplars, out = evaluate.Exemplars.of_run(run_dir, "b", faces), {}
    reader_in = video.FrameReader(clip, start=start, duration=duration)
    with Landmarker("video", num_faces=1) as lm:
        for f_in, f_sw in zip(reader_in, video.FrameReader(swapped)):
            face = next(iter(lm.detect(f_in.image, int(round(f_in.time * 1000)))), None)
            box = None if face is None else metrics.inner_face_box(face.landmarks, f_in.image.shape)
            if box is None:
                continue
            x0, y0 = box[:2]
            where = np.zeros((box[3] - y0, box[2] - x0), np.uint8)
            pts = np.round(np.asarray(face.landmarks)[align.LIPS] - (x0, y0)).astype(np.int32)
            cv2.fillConvexPoly(where, cv2.convexHull(pts), 1)
            index, _, matrix = exemplars.nearest(face.landmarks)
            images = {"swap": f_sw.image, "lookup": exemplars.paste(f_in.image, face.landmarks, index, matrix),
                      "perfect64": metrics.perfect_paste(f_in.image, face.landmarks, 64, box)}
            out[f_in.index] = {k: metrics.band_detail(im, f_in.image, box, (), where.astype(bool))["fine"]
                               for k, im in images.items()}
    return out


def subset(pf: dict, rows: list[int], mouth: dict[int, dict] | None = None) -> dict:
    """Medians of the band-detail figures and the exemplar distance over the per-frame rows ``rows`` (05's per_frame)."""
    def med(key):
        vals = [pf[key][i] for i in rows if pf[key][i] is not None]
        return float(np.median(vals)) if vals else None

    out = {"frames": len(rows), **{k: med(k) for k in (*BANDS, "exemplar_distance", "input_mouth_gap", "swapped_mouth_gap")}}
    scored = [i for i in rows if pf["detail_fine"][i] is not None]
    out["scored"] = len(scored)
    ratios = [pf["swapped_mouth_gap"][i] / pf["input_mouth_gap"][i] for i in rows
              if pf["swapped_mouth_gap"][i] is not None and (pf["input_mouth_gap"][i] or 0) > 0.02]
    out["mouth_gap_kept"] = float(np.median(ratios)) if ratios else None  # swap's gap / input's, where the mouth is open
    for k in ("swap", "lookup", "perfect64"):
        vals = [mouth[pf["index"][i]][k] for i in rows if mouth and pf["index"][i] in mouth and mouth[pf["index"][i]][k] is not None]
        out[f"mouth_{k}_fine"] = float(np.median(vals)) if vals else None
    return out


def fmt(v, spec: str = ".3f") -> str:
    return "n/a" if v is None else format(v, spec)


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def print_rows(parts: dict[str, dict]) -> None:
    print("inner face (05's band detail), then the mouth alone (the outer lips' hull), fine band; medians over frames")
    print(f"{'frames':>14} {'n':>3} {'self-swap':>9} {'lookup':>7} {'perfect64':>9} {'perfect128':>10} {'distance %':>10} "
          f"| {'mouth: self':>11} {'lookup':>7} {'perfect64':>9} | {'gap in':>6} {'gap out':>7} {'kept':>5}")
    for name, p in parts.items():
        print(f"{name:>14} {p['scored']:3d} {fmt(p['detail_fine']):>9} {fmt(p['lookup_fine']):>7} {fmt(p['ceiling64_fine']):>9} "
              f"{fmt(p['ceiling128_fine']):>10} {fmt(p['exemplar_distance'], '.2f'):>10} | {fmt(p['mouth_swap_fine']):>11} "
              f"{fmt(p['mouth_lookup_fine']):>7} {fmt(p['mouth_perfect64_fine']):>9} | {fmt(p['input_mouth_gap']):>6} "
              f"{fmt(p['swapped_mouth_gap']):>7} {fmt(p['mouth_gap_kept'], '.2f'):>5}")


def run(args) -> dict:
    from swaplab.core import assets, paths

    work = Path(args.work)
    data_dir, weights_dir = work / "data", work / "weights"
    clip = assets.fetch(args.holdout, progress=False) if args.holdout.startswith("samples/") else Path(args.holdout)
    gaps = clip_gaps(clip)
    values = np.array(list(gaps.values()))
    cut = float(np.quantile(values, 1 - OPEN_SHARE))
    novel = {i for i, g in gaps.items() if g >= cut}
    faces_b = paths.faces_dir(data_dir, args.project, "b")
    if args.reuse:  # the run trained by an earlier call with the same --work: swap and judge again only
        from swaplab.core.files import read_json

        prev = read_json(Path(args.reuse))
        dropped, kept, trained = prev["dropped"], prev["kept"], prev["trained"]
        run_dir = paths.run_dir(weights_dir, args.project, args.run)
    else:
        prepare_project(data_dir, args.project, args.holdout, args.clips, Path(args.copy_from) if args.copy_from else None)
        dropped, kept = remove_open_faces(faces_b, cut)
    print(f"{clip.name}: {len(novel)} of {len(gaps)} frames open (inner-lip gap >= {cut:.3f} of the eye span; "
          f"the clip's widest {values.max():.3f}); dropped {dropped} faces of B's set at or above it, {kept} kept", flush=True)
    if not args.reuse:
        run_dir, trained = train_run(data_dir, weights_dir, args.project, args.run, args.minutes, args.seed, model=args.model,
                                      expressions=args.expressions)
        print(f"trained {trained}", flush=True)
    swapped = work / "b2b.mp4"
    report = self_swap(clip, run_dir, swapped, "b2b")
    result = judge(clip, swapped, run_dir, faces_b, {"a": paths.faces_dir(data_dir, args.project, "a")}, report)
    mouth = mouth_detail(clip, swapped, run_dir, faces_b)
    pf, s = result["per_frame"], result["summary"]
    rows = {"novel (open)": [k for k, i in enumerate(pf["index"]) if i in novel],
            "rest": [k for k, i in enumerate(pf["index"]) if i not in novel]}
    parts = {name: subset(pf, r, mouth) for name, r in rows.items()}
    parts["all"] = subset(pf, list(range(len(pf["index"]))), mouth)
    return {"clip": str(clip), "cut": cut, "open_share": OPEN_SHARE, "novel_frames": sorted(novel), "dropped": dropped,
            "kept": kept, "trained": trained, "parts": parts, "mouth_sync": s.get("mouth_sync"),
            "pasted_share": s.get("pasted_share"), "thirds": s.get("thirds"), "summary": s, "reasons": result["reasons"],
            "swap_report": report, "per_frame": pf, "mouth_per_frame": {str(k): v for k, v in mouth.items()}}


def show(r: dict) -> None:
    """Print a result: the training record, the table, mouth sync, and the ratios the benchmark is judged by."""
    t = r["trained"]
    print(f"\n{t['minutes']:g} training minutes ({t['steps']} autoencoder + {t['detail_steps']} detail steps, "
          f"{t['wall_min']} min wall), {t['load_before']} before, {t['load_after']} after")
    print(f"B's face set: {r['dropped']} faces with an inner-lip gap >= {r['cut']:.3f} dropped, {r['kept']} kept")
    print_rows(r["parts"])
    print(f"mouth sync (all frames): {fmt(r['mouth_sync'], '.2f')} (target 0.9 for a self-swap); faces pasted "
          f"{fmt(r['pasted_share'], '.0%')}")
    n = r["parts"]["novel (open)"]
    for region, (me, look, perfect) in {"inner face": ("detail_fine", "lookup_fine", "ceiling64_fine"),
                                        "mouth": ("mouth_swap_fine", "mouth_lookup_fine", "mouth_perfect64_fine")}.items():
        below = None if n[look] is None or n[perfect] is None else n[look] < n[perfect]
        print(f"novel frames, {region}: self-swap fine {fmt(n[me])} vs lookup {fmt(n[look])} vs perfect 64 px {fmt(n[perfect])}: "
              f"self-swap / perfect 64 px = {fmt(ratio(n[me], n[perfect]), '.2f')} (target >= 1 where the lookup falls below "
              f"the perfect 64 px model: {'it does' if below else 'it does not' if below is not None else 'n/a'}), "
              f"self-swap / lookup = {fmt(ratio(n[me], n[look]), '.2f')}")


def finish(args, run, show) -> int:
    """A benchmark's end: print a saved result (``--show``), or ``run`` it, print it and write it to ``--out``."""
    from swaplab.core.files import read_json, write_json

    if args.show:
        show(read_json(Path(args.show)))
        return 0
    result = run(args)
    show(result)
    if args.out:
        write_json(args.out, result)
        print(f"wrote {args.out}")
    return 0


def main() -> int:
    from swaplab import demo

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default="/tmp/novel_expression", help="the project's data and weights go here")
    ap.add_argument("--project", default="novel")
    ap.add_argument("--run", default="novel")
    ap.add_argument("--holdout", default=demo.HOLDOUT_B, help="B's held-back clip: a sample key or a file")
    ap.add_argument("--copy-from", default="", help="copy the face sets a/ and b/ (faces and sources) of this built project")
    ap.add_argument("--clips", type=int, default=0, help="without --copy-from: align only the first N s1 clips (0: all)")
    ap.add_argument("--minutes", type=float, default=8.0, help="training minutes, both stages")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", default="", help="03_train's MODEL (default: the CPU default), e.g. slim_sketch")
    ap.add_argument("--expressions", type=float, default=None, help="03_train's EXPRESSIONS (default: its default)")
    ap.add_argument("--out", default="", help="write the result JSON here")
    ap.add_argument("--reuse", default="", help="a result JSON of an earlier call with the same --work: keep its project "
                    "and trained run, swap and judge again (no training)")
    ap.add_argument("--show", default="", help="print the figures of a result JSON this benchmark wrote, and exit")
    args = ap.parse_args()
    return finish(args, run, show)


if __name__ == "__main__":
    raise SystemExit(main())
