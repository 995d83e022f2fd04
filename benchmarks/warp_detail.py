"""How well the exemplar detail the cascade adds matches a held-out face's own: unwarped (today) against warped per region.

No training: for each held-out frame, the face is cropped at the detail size as 04_swap crops it (``align.face_crops``),
and its own high-pass detail (the crop minus its blur of ``exemplars.SIGMA`` px at the decoder's size) is the
reference. Each row's exemplar detail, in absolute units (the warped rows' relative detail times the frame's own
local brightness, i.e. a perfect decoder's), is correlated with it inside the inner-face hull, per frame; the frames
are split into thirds by their distance to the nearest exemplar (the "face" region's shape distance, % of the
eye-corner span). Rows: the lookup (the nearest exemplar's detail, unwarped), today's blend of 4 (unwarped, whole face),
the same 4 warped onto the face, and the per-region choice warped with its distance weights.

    python benchmarks/warp_detail.py --faces data/demo/b/faces --clip samples/grid/s1/pwbq6p.mpg
    python benchmarks/warp_detail.py --gif samples/headpose/head-pose-face-detection-male.gif   (first 60 %: the bank)
"""

from __future__ import annotations

import argparse
import json
import time

import cv2
import numpy as np

from swaplab.core import assets
from swaplab.face import align
from swaplab.face.landmarks import Landmarker
from swaplab.face.metrics import INNER_FACE
from swaplab.model import exemplars

IN_SIZE, SIZE = 64, 256


def frames_of(path: str, step: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    out, i = [], 0
    while True:
        ok, f = cap.read()
        if not ok:
            break
        if i % step == 0:
            out.append(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
        i += 1
    return out


def faces_of(frames: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(256 px crop, its 478 landmarks in the crop)] of each frame with a face."""
    out = []
    with Landmarker(mode="image") as lm:
        for f in frames:
            faces = lm.detect(f)
            if not faces:
                continue
            m, _, om, crop = align.face_crops(f, faces[0].landmarks, IN_SIZE, SIZE)
            out.append((crop, align.transform_points(faces[0].landmarks, om)))
    return out


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / max(np.sqrt((a * a).sum() * (b * b).sum()), 1e-12))


def score(bank: exemplars.ExemplarBank, faces, fade: bool = True) -> list[dict]:
    rows = []
    sigma = exemplars.SIGMA * SIZE / IN_SIZE
    for crop, lm in faces:
        x = crop.astype(np.float32) / 255
        blur = cv2.GaussianBlur(x, (0, 0), sigma)
        own = (x - blur).mean(-1)
        hull = cv2.fillConvexPoly(np.zeros((SIZE, SIZE), np.uint8), cv2.convexHull(np.round(lm[INNER_FACE]).astype(np.int32)), 1) > 0
        eyes = cv2.fillConvexPoly(np.zeros((SIZE, SIZE), np.uint8), cv2.convexHull(np.round(lm[exemplars.REGIONS["eye_l"]]).astype(np.int32)), 1) > 0
        mouth = cv2.fillConvexPoly(np.zeros((SIZE, SIZE), np.uint8), cv2.convexHull(np.round(lm[exemplars.REGIONS["mouth"]]).astype(np.int32)), 1) > 0
        idx, w = bank.neighbours(bank.query(lm))
        t0 = time.process_time()
        choices = bank.region_neighbours(lm)
        t1 = time.process_time()
        warped_rel = bank.warped_detail(lm, choices, IN_SIZE)
        t2 = time.process_time()
        whole = {name: (idx, w) for name in (*exemplars.REGIONS, "face")}  # today's four, warped
        variants = {
            "lookup (nearest, unwarped)": bank.detail(idx[:1], [1.0], IN_SIZE),
            "today: 4 blended, unwarped": bank.detail(idx, w, IN_SIZE),
            "4 blended, warped": bank.warped_detail(lm, whole, IN_SIZE)[..., :3] * (blur + exemplars.RELATIVE_EPS),
            "per region, warped, faded": warped_rel[..., :3] * (blur + exemplars.RELATIVE_EPS),
        }
        fc = bank._regions()["face"]
        q = lm[exemplars.FACE_POINTS] - lm[exemplars.FACE_POINTS].mean(0)
        span = float(np.linalg.norm(lm[263] - lm[33]))
        row = {"distance": 100 * float(exemplars._distance(fc, q).min()) / span, "query_ms": 1e3 * (t1 - t0),
               "warp_ms": 1e3 * (t2 - t1), "confidence_mouth": float(warped_rel[..., 3][mouth].mean() / exemplars.CONF_SCALE)}
        for name, d in variants.items():
            g = d.mean(-1)
            row[name] = {"face": _corr(g[hull], own[hull]), "eye": _corr(g[eyes], own[eyes]), "mouth": _corr(g[mouth], own[mouth])}
        rows.append(row)
    return rows


def table(rows: list[dict]) -> dict:
    d = np.array([r["distance"] for r in rows])
    edges = np.quantile(d, [1 / 3, 2 / 3])
    part = np.digitize(d, edges, right=True)
    names = [k for k in rows[0] if isinstance(rows[0][k], dict)]
    out = {"frames": len(rows), "warp_ms_median": float(np.median([r["warp_ms"] for r in rows])),
           "query_ms_median": float(np.median([r["query_ms"] for r in rows])),
           "distance_thirds": [[float(d[part == j].min()), float(d[part == j].max())] for j in range(3)]}
    for n in names:
        out[n] = {"all": {k: float(np.median([r[n][k] for r in rows])) for k in ("face", "eye", "mouth")},
                  "thirds_face": [float(np.median([r[n]["face"] for r, p in zip(rows, part) if p == j])) for j in range(3)]}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faces", help="a face set folder (the bank: its kept faces)")
    ap.add_argument("--clip", help="the held-out clip (asset path or file)")
    ap.add_argument("--gif", help="a clip whose first 60 %% of frames make the bank and the rest are held out")
    ap.add_argument("--step", type=int, default=3)
    ap.add_argument("--out")
    a = ap.parse_args()
    cv2.setNumThreads(1)
    if a.gif:
        faces = faces_of(frames_of(assets.fetch(a.gif, progress=False), 1))
        cut = int(0.6 * len(faces))
        crops, lms = np.stack([f[0] for f in faces[:cut]]), np.stack([f[1] for f in faces[:cut]])
        bank = exemplars.ExemplarBank.from_arrays(crops, lms, sources=np.arange(cut) // 10, times=np.arange(cut) / 10.0)
        held = faces[cut::max(a.step // 2, 1)]
    else:
        from swaplab.face.faceset import load_training_arrays

        images, _ = load_training_arrays(a.faces, SIZE)
        bank = exemplars.bank_of(a.faces, images)
        held = faces_of(frames_of(assets.fetch(a.clip, progress=False), a.step))
    result = {"bank": len(bank), "sigmas": bank.sigmas(), **table(score(bank, held))}
    print(json.dumps(result, indent=1))
    if a.out:
        with open(a.out, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
