"""Compare a long run stopped and resumed (``interrupted_run.py``) with the same recipe run straight through
(``quality_curve.py --recipe default``): the loss curves step by step, and the last preview grids side by side.

Each run's loss records are binned by step; per bin it prints both means and their difference in units of
its standard error (the spread of the records around their own trend, the batch-to-batch noise of one run).
Differences within about 2 of those units over most bins are run-to-run noise; a stop that lost or damaged
state would show as a jump after the step it happened at.

    python benchmarks/long_run_report.py --project demo --straight long_straight --interrupted long_interrupted \\
        --out docs/long_run
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def binned(history: list[dict], edges: np.ndarray, key: str) -> tuple[np.ndarray, np.ndarray]:
    """Per step bin: the mean of ``key`` and its standard error (records' spread around a running median)."""
    steps = np.array([h["step"] for h in history], float)
    values = np.log(np.array([h[key] for h in history], float))
    trend = np.array([np.median(values[max(0, i - 10):i + 11]) for i in range(len(values))])
    noise = float(np.std(values - trend))
    means, errors = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = values[(steps > lo) & (steps <= hi)]
        means.append(np.exp(inside.mean()) if len(inside) else np.nan)
        errors.append(noise / np.sqrt(len(inside)) if len(inside) else np.nan)
    return np.array(means), np.array(errors)


def resumes(history: list[dict], sessions: dict, before: int = 500, after: int = 200) -> list[dict]:
    """At each step a stopped session saved, whether the resumed run carries on where it was: the mean log loss of
    the ``after`` steps past it against the linear trend of the ``before`` steps up to it, in standard errors (the
    records' spread around that trend), and the learning rate's step over the gap against its own trend."""
    out = []
    for row in sessions["sessions"][:-1]:
        r = {"step": row["step_saved"], "ended_by": row["ended_by"], **carry_on(history, row["step_saved"], before, after)}
        if "z_a" in r:
            out.append(r)
    return out


def carry_on(history: list[dict], s: int, before: int = 500, after: int = 200) -> dict:
    """``resumes``' figures at step ``s`` of a run (at any step of a run never stopped: how far they stray by chance)."""
    steps = np.array([h["step"] for h in history], float)
    pre, post = (steps > s - before) & (steps <= s), (steps > s) & (steps <= s + after)
    r = {}
    if pre.sum() >= 5 and post.sum() >= 3:
        for side in "ab":
            y = np.log([h[f"loss_{side}"] for h in history])
            fit = np.polyfit(steps[pre], y[pre], 1)
            noise = np.std(y[pre] - np.polyval(fit, steps[pre]))
            r[f"z_{side}"] = round(float((y[post] - np.polyval(fit, steps[post])).mean() / (noise / np.sqrt(post.sum()))), 2)
        lr = np.array([h["lr"] for h in history])
        i, j = np.flatnonzero(pre)[-1], np.flatnonzero(post)[0]
        r["lr_ratio"] = round(float(lr[j] / lr[i]), 5)
        r["lr_trend"] = round(float((lr[i] / lr[i - 1]) ** ((steps[j] - steps[i]) / (steps[i] - steps[i - 1]))), 5)
    return r


def last_preview(run_dir: Path, prefix: str = "") -> Path | None:
    grids = sorted((run_dir / "previews").glob(f"{prefix}step_*.png"))
    return grids[-1] if grids else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--project", default="demo")
    ap.add_argument("--straight", required=True, help="the run trained without stops")
    ap.add_argument("--interrupted", required=True, help="the run stopped and resumed")
    ap.add_argument("--weights-dir", default=str(ROOT / "weights"))
    ap.add_argument("--bins", type=int, default=12)
    ap.add_argument("--sessions", default=None, help="interrupted_run.py's JSON: check the loss carries on at each resume")
    ap.add_argument("--out", required=True, help="folder for loss_compare.png, previews_compare.jpg and compare.json")
    args = ap.parse_args()

    import cv2
    import matplotlib

    matplotlib.use("Agg")
    from swaplab.core import paths
    from swaplab.model import runs, viz

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    dirs = {name: paths.run_dir(Path(args.weights_dir), args.project, run)
            for name, run in (("straight", args.straight), ("interrupted", args.interrupted))}
    result = {}
    for stage in ("", "detail"):
        hist = {name: runs.read_history(d, stage=stage) for name, d in dirs.items()}
        if not all(hist.values()):
            continue
        last = min(h[-1]["step"] for h in hist.values())
        edges = np.linspace(0, last, args.bins + 1)
        label = stage or "autoencoder"
        rows = []
        for side in "ab":
            (m1, e1), (m2, e2) = (binned(hist[n], edges, f"loss_{side}") for n in ("straight", "interrupted"))
            z = np.log(m2 / m1) / np.hypot(e1, e2)
            for k in range(args.bins):
                rows.append({"side": side, "steps": f"{int(edges[k])}-{int(edges[k + 1])}", "straight": round(float(m1[k]), 5),
                             "interrupted": round(float(m2[k]), 5), "rel_diff": round(float(m2[k] / m1[k] - 1), 4),
                             "z": round(float(z[k]), 2)})
        zs = np.array([abs(r["z"]) for r in rows if np.isfinite(r["z"])])
        result[label] = {"steps": {n: h[-1]["step"] for n, h in hist.items()}, "bins": rows,
                         "share_within_2se": round(float((zs <= 2).mean()), 3),
                         "mean_abs_rel_diff": round(float(np.mean([abs(r["rel_diff"]) for r in rows])), 4)}
        print(f"{label}: steps straight {hist['straight'][-1]['step']}, interrupted {hist['interrupted'][-1]['step']}; "
              f"|z| <= 2 in {100 * result[label]['share_within_2se']:.0f} % of bins, "
              f"mean |relative difference| {100 * result[label]['mean_abs_rel_diff']:.1f} %")
        for r in rows:
            print(f"  {label} {r['side']} {r['steps']:>13}: {r['straight']:.5f} {r['interrupted']:.5f} "
                  f"({100 * r['rel_diff']:+.1f} %, z {r['z']:+.1f})")
        curves = [(f"{n} {side.upper()}", [h["step"] for h in hist[n]], [h[f"loss_{side}"] for h in hist[n]])
                  for n in ("straight", "interrupted") for side in "ab"]
        fig = viz.curves_figure(curves, f"{label} loss (log)", figsize=(8, 3.6))
        fig.savefig(out / f"loss_compare{'_' + stage if stage else ''}.png")

    if args.sessions:
        result["resumes"] = resumes(runs.read_history(dirs["interrupted"]), json.loads(Path(args.sessions).read_text()))
        straight = runs.read_history(dirs["straight"])
        chance = [abs(c[f"z_{side}"]) for t in range(600, straight[-1]["step"] - 200, 100)
                  for c in [carry_on(straight, t)] if c for side in "ab"]
        result["chance_abs_z"] = {q: round(float(np.percentile(chance, p)), 2) for q, p in (("median", 50), ("p90", 90), ("max", 100))}
        print(f"the same figure at {len(chance) // 2} steps of the straight run, where nothing happened: |z| median "
              f"{result['chance_abs_z']['median']}, 90 % below {result['chance_abs_z']['p90']}, max {result['chance_abs_z']['max']}")
        for r in result["resumes"]:
            print(f"resumed at step {r['step']} (after {r['ended_by']}): loss A {r['z_a']:+.1f}, B {r['z_b']:+.1f} standard "
                  f"errors off the trend before it; learning rate x{r['lr_ratio']:.4f} over the gap (trend x{r['lr_trend']:.4f})")

    grids = []
    for prefix in ("", "detail_"):
        pair = [last_preview(d, prefix) for d in dirs.values()]
        if all(pair):
            images = [cv2.imread(str(p)) for p in pair]
            h = min(i.shape[0] for i in images)
            images = [cv2.resize(i, (round(i.shape[1] * h / i.shape[0]), h)) for i in images]
            grids.append(np.hstack([images[0], np.full((h, 12, 3), 255, np.uint8), images[1]]))
            result.setdefault("previews", []).append([p.name for p in pair])
    if grids:
        w = max(g.shape[1] for g in grids)
        grids = [cv2.resize(g, (w, round(g.shape[0] * w / g.shape[1]))) for g in grids]
        cv2.imwrite(str(out / "previews_compare.jpg"), np.vstack(grids), [cv2.IMWRITE_JPEG_QUALITY, 88])
    (out / "compare.json").write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
