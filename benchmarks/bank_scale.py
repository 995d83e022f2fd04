"""Exemplar banks at scale: N synthetic faces a side, the bank, its coverage, every face's training exemplars (whole
face and per region) and a sample of their exemplar detail, with the seconds and peak memory of each.

    PYTHONPATH=lib python benchmarks/bank_scale.py --faces 10000

Faces: a mean face of 478 points at 256 px moved by 8 expression modes, each of ``--sources`` clips a random walk
through them at 25 fps (and its own offset), so a clip's neighbouring frames are near each other as in video.
JPEGs: ``--distinct`` small synthetic 256 px crops, reused in turn (the search never reads pixels; the bank's bytes
are given as measured per JPEG times N). Budget (issue 27: "minutes, not tens"): under 120 s and 2 GB a side.
Banks of more than ``neighbours.EXACT_MAX`` faces get approximate neighbours: ``--recall N`` (default 3,000; 0: none)
first prints the share of the exact search's exemplars the approximate one finds, on N faces of the same kind;
``--recall-faces DIR`` on a face set's real landmarks (e.g. data/demo/b/faces).
"""

from __future__ import annotations

import argparse
import resource
import time

import cv2
import numpy as np

from swaplab.model import exemplars, neighbours

BUDGET_S, BUDGET_GB = 120.0, 2.0


def faces(n: int, sources: int, seed: int = 0):
    """(landmarks (n, 478, 2) float32 at 256 px, sources (n,), times (n,) float32)."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(64, 192, (478, 2))
    modes = rng.normal(0, 1.0, (8, 478, 2)) + rng.normal(0, 2.0, (8, 1, 2))  # expression and pose
    src = np.sort(rng.integers(0, sources, n))
    times = np.concatenate([np.arange((src == s).sum()) / 25.0 for s in range(sources)]).astype(np.float32)
    walk = np.zeros((n, 8))
    for s in range(sources):
        at = np.flatnonzero(src == s)
        walk[at] = rng.normal(0, 3, 8) + np.cumsum(rng.normal(0, 0.15, (len(at), 8)), 0)
    landmarks = base + np.einsum("nm,mpc->npc", walk, modes) + rng.normal(0, 0.2, (n, 478, 2))
    return landmarks.astype(np.float32), src, times


def jpegs(distinct: int, size: int = 256) -> list[bytes]:
    from swaplab.train.testing import synthetic_faces

    images, _ = synthetic_faces(distinct, size, seed=1)
    return [cv2.imencode(".jpg", cv2.cvtColor(im, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, exemplars.JPEG_QUALITY])[1].tobytes()
            for im in images]


def face_set(faces_dir: str):
    """(landmarks, sources, times) of a face set's kept faces (real MediaPipe landmarks, for ``recall``)."""
    from swaplab.face.faceset import FaceSet

    rows = FaceSet(faces_dir).kept()
    names = sorted({r["source"] for r in rows})
    return (np.array([r["landmarks"] for r in rows], np.float32), np.array([names.index(r["source"]) for r in rows]),
            np.array([r.get("time", 0.0) or 0.0 for r in rows], np.float32))


def recall(landmarks, src, times, regions=("mouth",), k: int = exemplars.K) -> None:
    """Print the share of the exact search's ``k`` exemplars (whole face, and ``regions``') that
    ``neighbours.approximate`` finds, and each one's seconds."""
    n = len(landmarks)
    for name, sets in (("whole face", landmarks[:, exemplars.INNER_FACE]),
                       *((r, exemplars._centred(landmarks[:, exemplars.REGIONS.get(r, exemplars.FACE_POINTS)])) for r in regions)):
        t = time.perf_counter()
        want = neighbours.exact(sets, k, src, times, exemplars.GAP_S)[0]
        t_exact = time.perf_counter() - t
        t = time.perf_counter()
        got = neighbours.approximate(sets, k, src, times, exemplars.GAP_S)[0]
        t_approx = time.perf_counter() - t
        found = sum(len(set(g[g >= 0]) & set(w[w >= 0])) for g, w in zip(got, want))
        print(f"  recall at {n} faces, {name:10s}: {found / max(int((want >= 0).sum()), 1):.4f} of the exact search's {k} "
              f"exemplars ({t_exact:.1f} s exact, {t_approx:.1f} s approximate)", flush=True)


def rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # KB on Linux


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--faces", type=int, default=10_000)
    ap.add_argument("--sources", type=int, default=12)
    ap.add_argument("--distinct", type=int, default=64)
    ap.add_argument("--sample", type=int, default=64, help="faces whose exemplar detail is drawn (training pairs)")
    ap.add_argument("--recall", type=int, default=3000, help="faces the approximate search is checked against the exact one on")
    ap.add_argument("--recall-faces", help="a face set folder: the recall on its real landmarks too (all regions)")
    a = ap.parse_args()
    if a.recall_faces:
        recall(*face_set(a.recall_faces), regions=(*exemplars.REGIONS, "face"))
    if a.recall:
        recall(*faces(a.recall, a.sources, seed=1))
    landmarks, src, times = faces(a.faces, a.sources)
    crops = jpegs(a.distinct)
    start_gb, total = rss_gb(), 0.0
    search = "approximate" if a.faces > neighbours.EXACT_MAX else "exact"
    print(f"{a.faces} faces, {a.sources} sources at 25 fps ({search} neighbours); peak memory before: {start_gb:.2f} GB")

    def step(name, fn):
        nonlocal total
        t = time.perf_counter()
        out = fn()
        total += (dt := time.perf_counter() - t)
        print(f"  {name:34s} {dt:8.2f} s   peak {rss_gb():.2f} GB", flush=True)
        return out

    bank = step("bank (JPEG bytes, landmarks)", lambda: exemplars.ExemplarBank(
        [crops[i % len(crops)] for i in range(a.faces)], landmarks[:, exemplars.INNER_FACE], 256, src, times, mesh=landmarks))
    step("coverage", bank.coverage)
    idx, w = step("neighbours_of_each (whole face)", bank.neighbours_of_each)
    step("region sigmas", bank.sigmas)
    choices = step("region_neighbours_of_each (far 0.5)", lambda: bank.region_neighbours_of_each(far_share=0.5))
    pick = np.random.default_rng(0).choice(a.faces, min(a.sample, a.faces), replace=False)
    t = time.perf_counter()
    step(f"exemplar detail, {len(pick)} faces", lambda: [bank.detail(idx[i], w[i], 64) for i in pick])
    per_face = (time.perf_counter() - t) / len(pick)
    step(f"warped detail, {min(len(pick), 16)} faces", lambda: [bank.warped_detail(bank.mesh[i], choices[i], 64) for i in pick[:16]])
    jpeg_gb = np.mean([len(j) for j in crops]) * a.faces / 2 ** 30
    peak = rss_gb()
    print(f"total {total:.1f} s = {total / BUDGET_S:.2f} of {BUDGET_S:.0f} s; peak memory {peak:.2f} GB = {peak / BUDGET_GB:.2f} of "
          f"{BUDGET_GB:.0f} GB (the bank's JPEGs at {a.faces} distinct faces: {jpeg_gb:.2f} GB; they are {a.distinct} reused here)")
    print(f"training pairs drawn whole (pairs.training_sides): {per_face * a.faces:.0f} s and "
          f"{a.faces * 256 * 256 * 3 / 2 ** 30:.2f} GB of int8 exemplar detail a side at 256 px (4 channels warped: x4/3)")


if __name__ == "__main__":
    main()
