"""Does the swap still move like the input? Mouth sync and gaze, from MediaPipe landmarks of both videos.

- **Mouth sync**: per frame, the inner-lip gap (the distance between the inner lips' upper and lower
  midpoints, ``landmarks.INNER_LIP_MID``) over the outer eye corners' span (``landmarks.EYE_CORNERS``), in the
  input and, with landmarks found again, in the swapped frame; the score is the correlation of the two over
  frames. A swap whose mouth opens and closes with the input's scores near 1; a soft mouth or two lip lines
  (MediaPipe finds a half-open mouth in them) or a mouth that keeps the target's own shape score lower.
- **Gaze**: per frame and eye, the iris centre (``landmarks.EYES``) in the eye's own frame: x along the line from
  its image-left to its image-right corner (0 at the left corner, 1 at the right; ~0.5 looking ahead), y across
  it (image-down positive), both over the corners' span. Reported per eye and axis as the correlation over
  frames and the mean absolute difference, input vs swap: a swap whose eyes look wherever the target looked in
  its exemplars correlates poorly and sits off the input's.
"""

from __future__ import annotations

import numpy as np

from swaplab.face.landmarks import EYE_CORNERS, EYES, INNER_LIP_MID
from swaplab.judge.numbers import mean_of, pearson

GAZE_KEYS = tuple(f"gaze_{eye}_{axis}" for eye in EYES for axis in "xy")  # per-frame lists, e.g. "gaze_left_x"


def mouth_gap(landmarks: np.ndarray) -> float:
    """The inner-lip gap of (478, 2) landmarks over the outer eye corners' span (0: lips closed; ~0.3 wide open)."""
    lm = np.asarray(landmarks, np.float64)
    span = np.linalg.norm(lm[EYE_CORNERS[1]] - lm[EYE_CORNERS[0]])
    return float(np.linalg.norm(lm[INNER_LIP_MID[1]] - lm[INNER_LIP_MID[0]]) / max(span, 1e-6))


def gaze(landmarks: np.ndarray) -> dict[str, float]:
    """{"gaze_left_x", "gaze_left_y", "gaze_right_x", "gaze_right_y"}: each iris centre in its eye's frame."""
    lm = np.asarray(landmarks, np.float64)
    out = {}
    for eye, (left, right, iris) in EYES.items():
        axis = lm[right] - lm[left]
        span2 = max(float(axis @ axis), 1e-9)
        rel = lm[iris] - lm[left]
        out[f"gaze_{eye}_x"] = float(rel @ axis / span2)
        out[f"gaze_{eye}_y"] = float((axis[0] * rel[1] - axis[1] * rel[0]) / span2)  # across the axis, image-down > 0
    return out


def frame_values(face) -> dict[str, float | None]:
    """The mouth gap and the gaze of a ``landmarks.Face`` (all None for no face)."""
    if face is None or len(face.landmarks) < 478:  # no iris points without the 478-point model
        return {"mouth_gap": None if face is None else mouth_gap(face.landmarks), **dict.fromkeys(GAZE_KEYS)}
    return {"mouth_gap": mouth_gap(face.landmarks), **gaze(face.landmarks)}


def summarise(pf: dict[str, list], s: dict, reasons: dict) -> None:
    """Into the summary ``s``: ``mouth_sync`` (and the frames it rests on), the input's and the swap's mean gap,
    and per eye and axis ``<key>_corr`` and ``<key>_mad`` (mean |input - swap|) for the ``GAZE_KEYS``."""
    r, n, why = pearson(pf["input_mouth_gap"], pf["swapped_mouth_gap"])
    s["mouth_sync"], s["mouth_sync_frames"] = r, n
    s["mouth_gap_input"], s["mouth_gap_swapped"] = mean_of(pf["input_mouth_gap"]), mean_of(pf["swapped_mouth_gap"])
    if why:
        reasons["mouth_sync"] = why
    for key in GAZE_KEYS:
        a, b = pf[f"input_{key}"], pf[f"swapped_{key}"]
        s[f"{key}_corr"], n, why = pearson(a, b)
        s[f"{key}_mad"] = mean_of([abs(x - y) for x, y in zip(a, b) if x is not None and y is not None])
        if why and "gaze" not in reasons:
            reasons["gaze"] = f"{key}: {why}"
    s["gaze_frames"] = n

