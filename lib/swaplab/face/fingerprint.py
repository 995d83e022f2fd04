"""Face fingerprints: is a clip cut from footage a run trained on, re-encoded or not? (the 05 stage's leak guard)

A face's fingerprint is its aligned crop (``align.crop_face``, as 02_align makes it) as a ``THUMB`` x ``THUMB`` grey
thumbnail, normalised to mean 0 and standard deviation 1 (so brightness, contrast and the encoder's quality do not
matter), stored as int8. A source's fingerprint is that of each kept face of a face set, with the face's time in
the source (``of_face_set``); a clip's is that of the largest face of its frames, found by MediaPipe's landmarker
as 02_align finds them (``of_clip``).

Two clips of one speaker in one session look alike frame by frame (GRID: the same face, light and framing; only
the mouth and eyes move), so ``match`` compares how the faces CHANGE: it pairs the clip's frames with a source's
at one constant time offset (each clip frame with the source's kept face nearest to its time plus the offset,
within ``tolerance``), takes from each side the mean face of the paired frames, and correlates what is left (the
motion of mouth, eyes, head over time) over all pairs at once. The same footage, cut and re-encoded, correlates
near 1 at its offset; another sentence of the same speaker does not, at any offset.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

THUMB = 16  # px: a face's fingerprint is its aligned crop at THUMB x THUMB, grey
CROP = 128  # px: the clip's faces are cropped at this size, then area-resized to THUMB (as a face set's crops are)
SCALE = 32.0  # int8 = round(z * SCALE): a normalised thumbnail's values lie within +-4 (almost always)
MAX_FRAMES = 250  # a clip's frames looked at, at most: longer clips are sampled evenly (10 s at 25 fps whole)


def thumbs(greys) -> np.ndarray:
    """(N, THUMB * THUMB) int8 fingerprints of N aligned grey crops (any size, uint8)."""
    import cv2

    out = np.zeros((len(greys), THUMB * THUMB), np.int8)
    for k, grey in enumerate(greys):
        small = cv2.resize(np.asarray(grey), (THUMB, THUMB), interpolation=cv2.INTER_AREA).astype(np.float32).ravel()
        small -= small.mean()
        small /= max(float(small.std()), 1e-3)
        out[k] = np.clip(np.round(small * SCALE), -127, 127)
    return out


def of_face_set(faces_dir: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{source name: (times (N,) float32 s, fingerprints (N, THUMB * THUMB) int8)} of the kept faces of a face set,
    in time order. Crops are decoded at a quarter of their size (JPEG's own scaling: fast)."""
    import cv2

    from swaplab.face.faceset import FaceSet

    fs = FaceSet(faces_dir)
    per: dict[str, list[dict]] = {}
    for row in fs.kept():
        per.setdefault(row["source"], []).append(row)
    out = {}
    for name, rows in per.items():
        rows.sort(key=lambda r: (float(r.get("time", r["frame"])), r["face"]))
        greys = []
        for r in rows:
            grey = cv2.imread(str(fs.dir / r["file"]), cv2.IMREAD_REDUCED_GRAYSCALE_4)
            if grey is None:
                raise FileNotFoundError(f"{fs.dir / r['file']} cannot be read: run 02_align for person {fs.person} again")
            greys.append(grey)
        times = np.array([float(r.get("time", r["frame"])) for r in rows], np.float32)
        out[name] = (times, thumbs(greys))
    return out


def of_clip(path: str | Path, max_frames: int = MAX_FRAMES) -> tuple[np.ndarray, np.ndarray, int]:
    """(times (K,) float32 s, fingerprints (K, THUMB * THUMB) int8, frames looked at) of the largest face in the
    frames of a clip (all of them, or ``max_frames`` evenly sampled), found and aligned as 02_align does."""
    from swaplab.core import video
    from swaplab.face import align, landmarks

    info = video.probe(path)
    every = max(1, int(np.ceil((info.frame_count or 0) / max_frames)))
    times, greys, looked = [], [], 0
    with landmarks.Landmarker("video", num_faces=1, blendshapes=False) as lm:
        for frame in video.FrameReader(path, every=every):
            looked += 1
            faces = lm.detect(frame.image, int(frame.time * 1000))
            if faces:
                crop, _ = align.crop_face(frame.image, faces[0].landmarks, CROP)
                times.append(frame.time)
                greys.append(crop.mean(axis=2).astype(np.uint8))
    return np.array(times, np.float32), thumbs(greys), looked


def frame_step(times: np.ndarray) -> float:
    """The frame interval of a sequence of face times (their smallest positive step; 0.04 s when it has none)."""
    steps = np.diff(np.unique(np.asarray(times, np.float64)))
    return float(steps.min()) if len(steps) else 0.04


def match(clip: tuple, source: tuple, min_pairs: int = 8) -> dict | None:
    """The best constant time offset between a clip's faces and a source's: {"score": the correlation of their
    motion there, "pairs": frames paired, "offset": source time - clip time, "clip_time": (first, last) s
    of the paired clip frames, "source_time": the same in the source}; None when no offset pairs ``min_pairs`` frames.

    ``clip`` and ``source`` are (times, fingerprints). Offsets are tried a frame interval apart (the smaller of the
    two), from the clip's end at the source's start to its start at the source's end; a clip frame pairs with the
    source's kept face nearest in time within 0.6 frame intervals (the larger of the two: a face set's dropped
    faces leave gaps, and those frames go unpaired)."""
    t, x = np.asarray(clip[0], np.float64), np.asarray(clip[1], np.float32)
    s, y = np.asarray(source[0], np.float64), np.asarray(source[1], np.float32)
    if len(t) < min_pairs or len(s) < min_pairs:
        return None
    order = np.argsort(s, kind="stable")
    s, y = s[order], y[order]
    step_t, step_s = frame_step(t), frame_step(s)
    step, tol = min(step_t, step_s), 0.6 * max(step_t, step_s)
    offsets = np.arange(s[0] - t[-1] - step, s[-1] - t[0] + 2 * step, step)
    best = None
    for chunk in np.array_split(offsets, max(1, len(offsets) // 64)):
        found = _scores(t, x, s, y, chunk, tol, min_pairs)
        if found is not None and (best is None or found["score"] > best["score"]):
            best = found
    return best


def _scores(t, x, s, y, offsets, tol: float, min_pairs: int) -> dict | None:
    """The best of ``offsets`` (``match``), computed for all of them at once."""
    want = t[None, :] + offsets[:, None]  # (O, K) source times the clip's frames would have
    j = np.clip(np.searchsorted(s, want), 1, len(s) - 1)
    j = np.where(np.abs(s[j - 1] - want) <= np.abs(s[j] - want), j - 1, j)
    paired = np.abs(s[j] - want) <= tol
    n = paired.sum(1)
    if n.max() < min_pairs:
        return None
    w = paired[..., None].astype(np.float32)
    xs = x[None] * w  # (O, K, D)
    ys = y[j] * w
    xm = xs.sum(1, keepdims=True) / np.maximum(n, 1)[:, None, None]
    ym = ys.sum(1, keepdims=True) / np.maximum(n, 1)[:, None, None]
    xr, yr = (xs - xm) * w, (ys - ym) * w
    num = (xr * yr).sum((1, 2))
    den = np.sqrt((xr * xr).sum((1, 2)) * (yr * yr).sum((1, 2)))
    score = np.where((n >= min_pairs) & (den > 0), num / np.maximum(den, 1e-9), -1.0)
    o = int(np.argmax(score))
    if score[o] <= -1.0:
        return None
    tt = t[paired[o]]
    return {"score": float(score[o]), "pairs": int(n[o]), "offset": float(offsets[o]),
            "clip_time": (float(tt.min()), float(tt.max())),
            "source_time": (float(tt.min() + offsets[o]), float(tt.max() + offsets[o]))}
