"""Shot boundaries (scene cuts) from a cheap frame-difference test, no model.

Each frame is shrunk to a 32 x 18 grey thumbnail (about 0.1 ms of CPU at 720p,
in the locate thread). A cut is a frame whose thumbnail differs from the previous one
by more than ``threshold`` grey levels on average AND by more than ``ratio``
times the recent typical difference (the median of the last ``window`` frames):
the first rule ignores the small steady changes of a talking head, the second
ignores fast but continuous motion (a head turn, a camera pan), whose
differences are large on every frame rather than on one.

At a cut, 04_swap resets what carries over between frames: landmark
smoothing, face tracks and their identity choice, and MediaPipe's own tracking,
so nothing is pasted across a cut.
"""

from __future__ import annotations

from collections import deque

import cv2
import numpy as np

THUMB = (32, 18)  # (w, h) of the thumbnail the difference is taken on


class CutDetector:
    """``detector(frame) -> bool``: True when ``frame`` starts a new shot.

    ``threshold``: mean absolute grey-level difference (0..255) between consecutive
    thumbnails that a cut must exceed; 0 turns detection off. ``ratio``: how many
    times the recent median difference a cut must also exceed.
    """

    def __init__(self, threshold: float = 10.0, ratio: float = 3.0, window: int = 12):
        if threshold < 0 or ratio < 1 or window < 1:
            raise ValueError(f"CutDetector(threshold={threshold}, ratio={ratio}, window={window}): "
                             "use threshold >= 0 grey levels (0 = off), ratio >= 1 and window >= 1 frames")
        self.threshold, self.ratio = float(threshold), float(ratio)
        self._recent: deque[float] = deque(maxlen=window)
        self._prev: np.ndarray | None = None
        self.last_score = 0.0  # the last frame's mean difference, grey levels

    def reset(self) -> None:
        self._recent.clear()
        self._prev = None

    def __call__(self, frame: np.ndarray) -> bool:
        """``frame``: (H, W, 3) uint8 RGB. The first frame after ``reset`` is never a cut."""
        if self.threshold <= 0:
            return False
        step = max(1, frame.shape[1] // (4 * THUMB[0]))  # every step-th pixel first: the area filter then reads ~1/step^2
        small = cv2.resize(np.ascontiguousarray(frame[::step, ::step]), THUMB, interpolation=cv2.INTER_AREA)
        grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.int16)
        prev, self._prev = self._prev, grey
        if prev is None:
            return False
        score = float(np.abs(grey - prev).mean())
        self.last_score = score
        typical = float(np.median(self._recent)) if self._recent else 0.0
        cut = score > self.threshold and score > self.ratio * typical
        if cut:
            self._recent.clear()  # the new shot's own motion sets the next baseline
        else:
            self._recent.append(score)
        return cut
