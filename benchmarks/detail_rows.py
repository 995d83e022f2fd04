"""The detail stage's ablation at equal CPU (issue 25): one trained autoencoder, a detail stage per row, 05's figures each.

Every row starts from the same run's autoencoder (``--from-run``, e.g. the demo's ``weights/demo/main``),
copied without its detail stage, and trains a new detail stage for the same number of steps (``--steps``:
equal CPU per row up to the cost of its inputs, printed) with the row's switches; then it self-swaps B's
held-back clip (b2b) and swaps A's (a2b) with 04_swap's library and scores both with 05_evaluate's
(``judge.evaluate.evaluate_swap``: fine detail beside the lookup baseline and in distance thirds, mouth
sync, gaze, identity, pose). Rows (``--rows``, comma-separated):

- ``today``: the whole-face exemplar blend in the exemplars' own geometry (``detail.WARP`` and ``SKETCH`` off);
- ``sketch``: the same, and the net reads the face's sketch (``swaplab.face.sketch``: lips, lids, irises);
- ``warp``: exemplars warped per region with a confidence map (``exemplars.warped_detail``), half of them far;
- ``warp+sketch``: both;
- ``...+warped`` / ``warped``: and half the decoder's training faces reconstructed from warped inputs (``DETAIL_PAIRS="warped"``).

    PYTHONPATH=lib python benchmarks/detail_rows.py --from-run weights/demo/main --rows today,sketch --steps 2100
    python benchmarks/detail_rows.py --show /tmp/detail_rows/result.json

It prints one row per switch set and the ratio the issue judges by: the self-swap's fine detail over the lookup's,
overall and in the far third.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

ROWS = {"today": dict(warp=False, sketch=False), "sketch": dict(warp=False, sketch=True),
        "warp": dict(warp=True, sketch=False), "warp+sketch": dict(warp=True, sketch=True),
        "sketch+warped": dict(warp=False, sketch=True, pairs="warped"), "warped": dict(warp=False, sketch=False, pairs="warped"),
        "warp+sketch+warped": dict(warp=True, sketch=True, pairs="warped"),
        "sketch+neighbours": dict(warp=False, sketch=True, pairs="neighbours"),
        "k8": dict(warp=False, sketch=False, k=8)}
OPTIONS: dict = {}  # 04_swap options every row swaps with (``--smoothing``)
DETAIL_FILES = ("detail.weights.h5", "detail.previous.weights.h5", "detail_export.weights.h5", "detail_history.json",
                "detail_bank_a.npz", "detail_bank_b.npz", "detail_loss.png")
KEYS = ("detail_fine", "lookup_fine", "ceiling64_fine", "mouth_sync", "identity_retrieval", "pose_error_deg",
        "jitter_ratio", "face_change_ratio", "gaze_left_x_corr", "gaze_right_x_corr", "gaze_left_y_corr", "gaze_right_y_corr")


def run_name(row: str) -> str:
    """The row's run folder ('+' is not allowed in a RUN name)."""
    return row.replace("+", "_")


def copy_autoencoder(src: Path, dst: Path) -> dict:
    """The run ``src`` without its detail stage, at ``dst``; its config.json."""
    from swaplab.core.files import read_json, write_json

    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(*DETAIL_FILES, "previews", "tensorboard", "save.json"))
    config = read_json(dst / "config.json")
    for key in ("detail_spec", "detail_steps_done", "detail_banks"):
        config.pop(key, None)
    write_json(dst / "config.json", config)
    return config


def train_row(name: str, saved: dict, data_dir: Path, weights_dir: Path, steps: int) -> dict:
    from swaplab.model import detail, exemplars
    from swaplab.train import loop

    switches = ROWS[name]
    detail.WARP, detail.SKETCH = switches["warp"], switches["sketch"]
    exemplars.K = switches.get("k", 4)  # exemplars blended; the rows before k8 were run with 4 (the run saves it: its spec)
    config = loop.TrainConfig(project=saved["project"], person_a=saved["person_a"], person_b=saved["person_b"], run=run_name(name),
                              model=saved["model"], batch_size=saved["batch_size"], steps=saved["steps_done"],
                              time_budget_min=0, data_dir=str(data_dir), weights_dir=str(weights_dir), seed=saved["seed"],
                              detail_size=saved["detail_size"], detail_steps=steps, preview_every=10**6, save_every=10**6,
                              detail_pairs=switches.get("pairs", "reconstructions"))
    t0 = time.perf_counter()
    report = loop.train(config)
    return {"seconds": round(time.perf_counter() - t0, 1), "detail": report.get("detail"), "load": os.getloadavg()[0]}


class PerfectDecoder:
    """A stand-in for the autoencoder that returns its input crop: a decoder with zero error at its own size (the
    "perfect 64 px model"), so the row shows what the detail stage and its exemplars make of a faithful decoder face."""

    def __init__(self, autoencoder):
        self.image_size = autoencoder.image_size

    def swap(self, faces, to: str = "b", batch_size: int = 256):
        from swaplab.model.models import as_unit_float

        return as_unit_float(faces)

    reconstruct = swap


def judge_row(run_dir: Path, data_dir: Path, project: str, clips: dict, work: Path, perfect: bool = False) -> dict:
    from swaplab.core import assets, paths
    from swaplab.judge import evaluate
    from swaplab.model import runs
    from swaplab.swap import pipeline as swap

    cascade = runs.load_cascade(run_dir)
    if perfect:  # the oracle row: the decoder's face is the input's own crop (a self-swap's ceiling at the model's size)
        cascade.autoencoder = PerfectDecoder(cascade.autoencoder)
    out = {}
    for direction, clip in clips.items():
        src = direction[0]
        path = assets.fetch(clip, progress=False) if clip.startswith("samples/") else Path(clip)
        swapped = work / f"{run_dir.name}{'_perfect' if perfect else ''}_{direction}.mp4"
        options = swap.SwapOptions(direction=direction, side_by_side=False, label="", batch_size=16, **OPTIONS).validate()
        report = swap.convert(path, cascade, swapped, options, progress=False).asdict()
        people = sorted(d.name for d in (data_dir / project).iterdir() if (d / "faces").is_dir())
        faces = {p: paths.faces_dir(data_dir, project, p) for p in people}
        others = {p: d for p, d in faces.items() if p != "b"}  # every identity the project holds: A and the distractors
        result = evaluate.evaluate_swap(path, swapped, faces[src], faces["b"], identity_frames=20, progress=False,
                                        others=others, exemplars=evaluate.Exemplars.of_run(run_dir, "b", faces["b"]),
                                        report=report)
        s = result["summary"]
        out[direction] = {**{k: s.get(k) for k in KEYS}, "thirds": s.get("thirds"), "swapped": str(swapped),
                          "ms_per_face_detail": report.get("timings", {}).get("detail")}
    return out


def show(result: dict) -> None:
    from swaplab.judge import numbers

    def fmt(value, spec=".3f"):
        return numbers.fmt(value, spec)

    print("row | b2b fine / lookup | thirds near, mid, far (swap / lookup) | b2b sync | a2b sync | a2b identity | a2b pose "
          "| a2b gaze r (lx, rx) | jitter b2b")
    for name, r in result["rows"].items():
        b, a = r["judged"]["b2b"], r["judged"].get("a2b", {})
        thirds = ", ".join(f"{fmt(t['detail_fine'])} / {fmt(t['lookup_fine'])}" for t in (b.get("thirds") or {}).values())
        print(f"{name} | {fmt(b['detail_fine'])} / {fmt(b['lookup_fine'])} | {thirds} | {fmt(b['mouth_sync'])} | "
              f"{fmt(a.get('mouth_sync'))} | {fmt(a.get('identity_retrieval'))} | {fmt(a.get('pose_error_deg'))} | "
              f"{fmt(a.get('gaze_left_x_corr'))}, {fmt(a.get('gaze_right_x_corr'))} | {fmt(b.get('jitter_ratio'))}")
    for name, r in result["rows"].items():
        b = r["judged"]["b2b"]
        far = list((b.get("thirds") or {}).values())[-1:] or [{}]
        ratio = b["detail_fine"] / b["lookup_fine"] if b.get("lookup_fine") else float("nan")
        far_ratio = (far[0]["detail_fine"] / far[0]["lookup_fine"]) if far[0].get("lookup_fine") else float("nan")
        print(f"{name}: self-swap fine / lookup = {ratio:.3f} (far third {far_ratio:.3f}); "
              f"detail stage {r['trained'].get('seconds')} s for {(r['trained'].get('detail') or {}).get('steps_done')} steps")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--from-run", default="weights/demo/main")
    ap.add_argument("--data", default="data")
    ap.add_argument("--rows", default="today,sketch")
    ap.add_argument("--steps", type=int, default=2100)
    ap.add_argument("--b2b", default="samples/grid/s1/pwbq6p.mpg")
    ap.add_argument("--a2b", default="samples/grid/s2/pwij3p.mpg")
    ap.add_argument("--work", default="/tmp/detail_rows")
    ap.add_argument("--show", default=None)
    ap.add_argument("--perfect", action="store_true", help="judge the rows already trained again, each with a perfect "
                    "decoder (the input's own crop at the model's size) under its detail stage: b2b only")
    args = ap.parse_args()
    if args.show:
        show(json.loads(Path(args.show).read_text()))
        return 0
    from swaplab.core.files import write_json

    work, src = Path(args.work), Path(args.from_run)
    out_path = work / "result.json"
    result = json.loads(out_path.read_text()) if out_path.exists() else {"from_run": str(src), "steps": args.steps, "rows": {}}
    if args.perfect:
        for name in args.rows.split(","):
            run_dir = work / "weights" / src.parent.name / run_name(name)
            project = json.loads((run_dir / "config.json").read_text())["project"]
            judged = judge_row(run_dir, Path(args.data).resolve(), project, {"b2b": args.b2b}, work, perfect=True)
            result["rows"][f"{name} (perfect decoder)"] = {"trained": result["rows"][name]["trained"], "judged": judged}
            write_json(out_path, result)
        show(result)
        return 0
    for name in args.rows.split(","):
        if name not in ROWS:
            raise SystemExit(f"--rows: {name!r} is not one of {', '.join(ROWS)}")
        weights = work / "weights"
        run_dir = weights / src.parent.name / run_name(name)
        saved = copy_autoencoder(src, run_dir)
        trained = train_row(name, saved, Path(args.data).resolve(), weights, args.steps)
        judged = judge_row(run_dir, Path(args.data).resolve(), saved["project"], {"b2b": args.b2b, "a2b": args.a2b}, work)
        result["rows"][name] = {"trained": trained, "judged": judged}
        write_json(out_path, result)
        show(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
