"""The face's drawing: where its lips, lids and irises are, as lines, for the detail net to draw along.

The decoder's face says whose face and roughly which expression, but at 64 px its mouth is a soft blob
and its irises a smudge: an open mouth comes out half open and the lip line doubled, the gaze wherever
the decoder's average puts it. The frame's own landmarks say exactly where those edges are, and a swap
has them anyway (it aligns and pastes with them). ``draw`` renders them at the detail net's size:

- channel 0, **lines**: the outer and inner lip contours, both eyelids' contours and each iris's rim;
- channel 1, **openings**: the mouth's opening (inside the inner lips) and each iris's disc.

They are geometry, not pixels: no colour or texture of the input reaches the net, so in a swap A -> B the
net draws B's lips and irises along A's mouth and gaze (mouth sync and gaze agreement, ``judge.motion``).
Values are at most ``SCALE`` (0.5), so the channels ride in the exemplar detail's int8 training arrays.

In training the landmarks are those of the face drawn, shifted, scaled and turned a little at random
(``jitter``): in a swap they are another person's, which the decoder follows only roughly, so the net
learns to draw near the lines, not to trust them to the pixel.
"""

from __future__ import annotations

import cv2
import numpy as np

from swaplab.face import align

CHANNELS = 2
SCALE = 0.5  # value of a line or an opening (int8 training arrays hold +-0.5)
SHIFT = 0.5  # training jitter: up to this many decoder px of shift, in each axis
ZOOM = 0.02  # and this share of scale, about the face's centre
TURN_DEG = 1.0  # and this many degrees of rotation
INNER_LIPS = [78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191]
IRIS_L, IRIS_R = list(range(468, 473)), list(range(473, 478))  # centre, then four rim points
LINES = (align.LIPS, INNER_LIPS, align.LEFT_EYE, align.RIGHT_EYE)
SUB = 4  # sub-pixel bits of the drawing (cv2's ``shift``)


def draw(landmarks: np.ndarray, size: int) -> np.ndarray:
    """(size, size, 2) float32: the lines and openings of a face's (478, 2) landmarks at ``size`` px in the aligned crop
    (zeros for a face with fewer points: no irises or inner lips to draw)."""
    return _drawn(landmarks, size).astype(np.float32) * (SCALE / 255.0)


def for_decoder(landmarks, size: int) -> np.ndarray:
    """(N, size, size, 2) uint8 in [0, 255]: the sketch of each face's (478, 2) landmarks (N, 478, 2), at ``size`` px in
    the aligned crop, as a sketched autoencoder reads it (``models.ModelSpec.sketch``; /255 into [0, 1]). Training
    stacks it on the face's masks, so the augmentation moves it with the target face."""
    landmarks = np.asarray(landmarks, np.float32)
    if not len(landmarks):
        return np.zeros((0, size, size, CHANNELS), np.uint8)
    return np.stack([_drawn(lm, size) for lm in landmarks])


def _drawn(landmarks: np.ndarray, size: int) -> np.ndarray:
    """(size, size, 2) uint8: ``draw``'s lines and openings at 255."""
    out = np.zeros((CHANNELS, size, size), np.uint8)
    pts = np.asarray(landmarks, np.float64)
    if pts.shape != (478, 2) or not np.isfinite(pts).all():
        return np.zeros((size, size, CHANNELS), np.uint8)
    fixed = np.round(pts * (1 << SUB)).astype(np.int32)
    width = max(1, int(round(size / 128)))  # 2 px at 256: a line the net sees at every scale
    lines, openings = out
    cv2.polylines(lines, [fixed[idx] for idx in LINES], True, 255, width, cv2.LINE_AA, SUB)
    cv2.fillPoly(openings, [fixed[INNER_LIPS]], 255, cv2.LINE_AA, SUB)
    for iris in (IRIS_L, IRIS_R):
        centre = pts[iris[0]]
        radius = float(np.mean(np.linalg.norm(pts[iris[1:]] - centre, axis=1)))
        c = tuple(int(v) for v in np.round(centre * (1 << SUB)))
        r = int(round(radius * (1 << SUB)))
        cv2.circle(openings, c, r, 255, -1, cv2.LINE_AA, SUB)
        cv2.circle(lines, c, r, 255, width, cv2.LINE_AA, SUB)
    return np.moveaxis(out, 0, -1)


def jitter(landmarks: np.ndarray, size: int, in_size: int, rng: np.random.Generator) -> np.ndarray:
    """(478, 2) landmarks moved by a small random similarity (``SHIFT`` decoder px, ``ZOOM``, ``TURN_DEG``) about their
    mean: what a swap's landmarks are to the face the decoder drew."""
    pts = np.asarray(landmarks, np.float64)
    centre = pts.mean(0)
    angle = np.deg2rad(rng.uniform(-TURN_DEG, TURN_DEG))
    zoom = 1.0 + rng.uniform(-ZOOM, ZOOM)
    rot = zoom * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    shift = rng.uniform(-SHIFT, SHIFT, 2) * size / in_size
    return ((pts - centre) @ rot.T + centre + shift).astype(np.float32)


def draw_all(landmarks, size: int) -> np.ndarray:
    """(N, size, size, 2) float32: ``draw`` of each face's landmarks (N, 478, 2)."""
    landmarks = np.asarray(landmarks, np.float32)
    if not len(landmarks):
        return np.zeros((0, size, size, CHANNELS), np.float32)
    return np.stack([draw(lm, size) for lm in landmarks])
