"""Per-frame measures of the 05 stage: one accumulator (``FrameMeasures``) fed a pair of frames at a time.

For each (input, swapped) frame pair with their MediaPipe faces it records, in lists of one value per frame
(None where a frame has none): identity distances to every gallery (on a sample of frames), pose and
expression error, band detail of the swap and of the perfect 64 / 128 px models inside the inner face,
the Laplacian detail ratio, face SSIM, frame-to-frame change inside the face hull; the mouth gap and gaze of
both faces (``motion``); the distance from the input face to the nearest exemplar and, for a self-swap, the
band detail of the lookup baseline (``lookup``); and whether a face was pasted at all (``pasted``).
"""

from __future__ import annotations

import cv2
import numpy as np

from swaplab.face import metrics
from swaplab.face.landmarks import EXPRESSION_KEYS
from swaplab.judge import motion
from swaplab.judge.numbers import ratio

CEILINGS = {f"ceiling{n}": n for n in metrics.CEILING_SIZES}  # summary key -> px of the perfect model scored beside the swap
# A frame "got a face pasted" when, after a blur that leaves what a codec changes (sigma: PASTE_SIGMA of the eye-corner
# span), the swapped inner face differs from the input's by more than PASTE_FLOOR grey levels and PASTE_RATIO times
# the difference around the face (outside its hull, within the face box grown by PASTE_RING): a re-encode changes
# both alike, a paste the face only. Chosen on the test clips (tests/test_judge_lookup.py), not on the demo's. A paste
# as close to the input as a perfect 64 px model is not told apart this way: 04_swap's own count is used where it has one.
PASTE_SIGMA, PASTE_FLOOR, PASTE_RATIO, PASTE_RING = 0.04, 1.5, 2.0, 0.25


class FrameMeasures:
    """Per-frame accumulator of ``evaluate_swap``: one list per measure (``pf``), None where a frame has no value.

    ``exemplars``: a ``lookup.Exemplars`` of the person drawn (the distance to the nearest is recorded);
    ``lookup``: also paste and score that exemplar (a self-swap: the input is its full reference)."""

    KEYS = ("index", "time", "input_face", "swapped_face", "dist_target", "dist_source", "nearest", "input_dist_target",
            "input_dist_source", "input_nearest", "yaw_error", "pitch_error", "roll_error", "pose_error",
            "expression_error", "change_input", "change_swapped", "detail_input", "detail_swapped", "detail_ratio",
            *(f"{what}_{band}" for what in ("detail", *CEILINGS, "lookup") for band in metrics.BANDS),
            *(f"ladder_{band}" for band in metrics.BANDS), "face_ssim", "exemplar_distance", "exemplar_index",
            "pasted", "paste_change_face", "paste_change_around",
            *(f"{who}_{k}" for who in ("input", "swapped") for k in ("mouth_gap", *motion.GAZE_KEYS)))

    def __init__(self, galleries: dict[str, dict], target: str, source: str, embedder, exemplars=None, lookup: bool = False):
        self.pf: dict[str, list] = {k: [] for k in self.KEYS}
        self.key_errors: dict[str, list] = {k: [] for k in EXPRESSION_KEYS}
        self.lms = {"input": [], "swapped": []}
        self.sizes = {"input": [], "swapped": []}
        self.galleries, self.target, self.source, self.embedder = galleries, target, source, embedder
        self.exemplars, self.lookup = exemplars, lookup and exemplars is not None
        self.prev: tuple[np.ndarray, np.ndarray] | None = None  # grey (H, W) float32 of the previous frames

    def add(self, frame, img_in, img_sw, face_in, face_sw, check: bool, check_input: bool) -> None:
        pf = self.pf
        pf["index"].append(frame.index)
        pf["time"].append(round(frame.time, 3))
        pf["input_face"].append(face_in is not None)
        pf["swapped_face"].append(face_sw is not None)
        for who, face in (("input", face_in), ("swapped", face_sw)):
            self.lms[who].append(None if face is None else face.landmarks)
            self.sizes[who].append(face.size if face else 0.0)
            for k, v in motion.frame_values(face).items():
                pf[f"{who}_{k}"].append(v)
        self._identity("", face_sw if check else None, img_sw)
        self._identity("input_", face_in if check_input else None, img_in)
        self._pose(face_in, face_sw)
        self._pixels(img_in, img_sw, face_in)

    def _identity(self, who: str, face, img) -> None:
        from swaplab.face import identity

        if face is None:
            for k in ("dist_target", "dist_source", "nearest"):
                self.pf[who + k].append(None)
            return
        e = self.embedder.embed(img, face.landmarks)  # (128,) float32
        dists = {name: identity.distance(e, g["centroid"]) for name, g in self.galleries.items()}
        self.pf[who + "dist_target"].append(dists[self.target])
        self.pf[who + "dist_source"].append(dists[self.source])
        self.pf[who + "nearest"].append(min(dists, key=dists.get))

    def _pose(self, face_in, face_sw) -> None:
        both = face_in is not None and face_sw is not None
        errs = [abs(face_in.yaw - face_sw.yaw), abs(face_in.pitch - face_sw.pitch), abs(face_in.roll - face_sw.roll)] if both else [None] * 3
        for k, v in zip(("yaw_error", "pitch_error", "roll_error"), errs):
            self.pf[k].append(v)
        self.pf["pose_error"].append(float(np.mean(errs)) if both else None)
        self.pf["expression_error"].append(float(np.linalg.norm(face_in.blendshapes - face_sw.blendshapes)) if both else None)
        for k in EXPRESSION_KEYS:
            self.key_errors[k].append(abs(face_in.blendshape(k) - face_sw.blendshape(k)) if both else None)

    def _pixels(self, img_in, img_sw, face_in) -> None:
        """Detail, ceilings, lookup, face SSIM, pasted or not and frame-to-frame change, all in the INPUT face's
        regions (the swap is pasted there)."""
        pf = self.pf
        box = None if face_in is None else metrics.inner_face_box(face_in.landmarks, img_in.shape)
        self._detail(img_in, img_sw, face_in, box)
        self._pasted(img_in, img_sw, face_in, box)
        ssim = None if face_in is None else metrics.face_box_ssim(img_in, img_sw, face_in.landmarks)
        pf["face_ssim"].append(None if ssim is None or np.isnan(ssim) else ssim)
        grey = (img_in.mean(-1, dtype=np.float32), img_sw.mean(-1, dtype=np.float32))  # (H, W) in [0, 255]
        if self.prev is not None and face_in is not None:
            # the same region (the input's face hull) in both: flicker of the pasted face, not of the background
            mask = metrics.hull_mask(face_in.landmarks, img_in.shape)
            pf["change_input"].append(float(np.abs(grey[0] - self.prev[0])[mask].mean()))
            pf["change_swapped"].append(float(np.abs(grey[1] - self.prev[1])[mask].mean()))
        else:
            pf["change_input"].append(None)
            pf["change_swapped"].append(None)
        self.prev = grey

    def _detail(self, img_in, img_sw, face_in, box) -> None:
        """Band detail of the swap against the input, its blur ladder, what perfect models and the lookup score on
        this frame, and the distance to the nearest exemplar."""
        pf = self.pf
        d_in = d_sw = near = index = None
        scores = {what: {} for what in ("detail", *CEILINGS, "lookup")}
        ladders: dict = {}
        if box is not None:
            d_in, d_sw = metrics.inner_face_detail(img_in, box), metrics.inner_face_detail(img_sw, box)
            where = metrics.inner_face_mask(face_in.landmarks, box)
            swap = metrics.band_detail(img_sw, img_in, box, where=where)
            scores["detail"] = swap
            ladders = {band: swap[f"{band}_ladder"] for band in metrics.BANDS}
            for what, size in CEILINGS.items():
                perfect = metrics.perfect_paste(img_in, face_in.landmarks, size, box)
                scores[what] = metrics.band_detail(perfect, img_in, box, (), where)
            if self.exemplars is not None:
                index, near, matrix = self.exemplars.nearest(face_in.landmarks)
                if self.lookup:
                    pasted = self.exemplars.paste(img_in, face_in.landmarks, index, matrix)
                    scores["lookup"] = metrics.band_detail(pasted, img_in, box, (), where)
        pf["detail_input"].append(d_in)
        pf["detail_swapped"].append(d_sw)
        pf["detail_ratio"].append(ratio(d_sw, d_in))
        pf["exemplar_distance"].append(near)
        pf["exemplar_index"].append(index)
        for what, bands in scores.items():
            for band in metrics.BANDS:
                pf[f"{what}_{band}"].append(bands.get(band))
        for band in metrics.BANDS:
            pf[f"ladder_{band}"].append(ladders.get(band))

    def _pasted(self, img_in, img_sw, face_in, box) -> None:
        """Was a face pasted on this frame? (None without an input face; see ``PASTE_*``.)"""
        face = around = None
        if box is not None:
            face, around = paste_change(img_in, img_sw, face_in.landmarks, box)
        self.pf["paste_change_face"].append(face)
        self.pf["paste_change_around"].append(around)
        self.pf["pasted"].append(None if face is None else bool(face > max(PASTE_FLOOR, PASTE_RATIO * (around or 0.0))))

    def finish(self) -> dict[str, list]:
        self.pf["jitter_input"] = metrics.landmark_jitter(self.lms["input"], self.sizes["input"])
        self.pf["jitter_swapped"] = metrics.landmark_jitter(self.lms["swapped"], self.sizes["swapped"])
        return self.pf


def paste_change(img_in: np.ndarray, img_sw: np.ndarray, landmarks: np.ndarray, box) -> tuple[float, float | None]:
    """(mean |difference| inside the inner face, the same around the face) in grey levels, after a blur of
    ``PASTE_SIGMA`` of the eye-corner span: what a paste changes, against what the encoder changes nearby."""
    lm = np.asarray(landmarks, np.float64)
    (fx0, fy0), (fx1, fy1) = lm.min(0), lm.max(0)
    grow = PASTE_RING * max(fx1 - fx0, fy1 - fy0)
    h, w = img_in.shape[:2]
    x0, y0 = max(int(fx0 - grow), 0), max(int(fy0 - grow), 0)
    x1, y1 = min(int(np.ceil(fx1 + grow)), w), min(int(np.ceil(fy1 + grow)), h)
    sigma = PASTE_SIGMA * float(np.linalg.norm(lm[263] - lm[33]))
    diff = np.abs(cv2.GaussianBlur(img_in[y0:y1, x0:x1].mean(-1, dtype=np.float32), (0, 0), sigma)
                  - cv2.GaussianBlur(img_sw[y0:y1, x0:x1].mean(-1, dtype=np.float32), (0, 0), sigma))
    hull = metrics.hull_mask(lm - (x0, y0), diff.shape)
    grown = cv2.dilate(hull.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)  # a codec block past the hull
    inner = np.zeros_like(hull)
    bx0, by0, bx1, by1 = box
    inner[by0 - y0:by1 - y0, bx0 - x0:bx1 - x0] = metrics.inner_face_mask(landmarks, box)
    ring = ~grown
    return float(diff[inner].mean()), (float(diff[ring].mean()) if ring.any() else None)
