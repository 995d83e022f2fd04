"""Colour transfer and mask blending: how a swapped face crop goes back into its frame.

All the colour work happens in the aligned crop at the model's size (64 px for
"lite"), where it is cheap; only the final paste touches the frame, and only the
box of the face's mask (``align.uncrop_to_roi`` into it), never the whole frame:

1. ``face_mask``: the face hull from the crop's landmarks, eroded (the model is
   least sure at the hull's edge: jaw line, hair line) and feathered.
2. ``sharpen`` (optional): an unsharp mask against the softness of stretching the
   model's crop to the face's size in the frame.
3. ``color_transfer``: make the swapped face's colours match the original face
   under the mask: "rct" (Reinhard: mean and std per Lab channel), "hist"
   (histogram matching per RGB channel) or "none".
4. Blend mode "seamless" only: ``seamless`` Poisson-clones the swapped face into
   the original crop (``cv2.seamlessClone``, in crop space).
5. ``paste``: warp face + mask back into the mask's box in the frame in one
   ``warpAffine`` and alpha-blend there with the feathered mask (both modes: the
   edge of a seamless clone is feathered too).
"""

from __future__ import annotations

import cv2
import numpy as np

from swaplab.face import align

COLOR_MODES = ("rct", "hist", "none")
BLEND_MODES = ("feather", "seamless")


def face_mask(crop_landmarks: np.ndarray, size: int, erode: int = 0, blur: int = 0) -> np.ndarray:
    """(size, size) float32 in [0, 1]: the landmark hull, eroded by ``erode`` px, feathered over ~``blur`` px.

    Pixels are those of the ``size`` crop, so a value covers the same share of the
    face at any video resolution. The blur spreads the edge over about ``blur`` px
    on each side of the eroded hull: keep ``erode >= blur`` for a mask that stays
    inside the face.
    """
    if erode < 0 or blur < 0:
        raise ValueError(f"mask erode={erode} and blur={blur} must be >= 0 pixels")
    hull = align.hull_mask(crop_landmarks, size)  # (S, S) uint8 in {0, 255}
    if erode:
        hull = cv2.erode(hull, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * erode + 1, 2 * erode + 1)))
    mask = hull.astype(np.float32) / 255.0
    if blur:
        mask = cv2.GaussianBlur(mask, (2 * blur + 1, 2 * blur + 1), blur / 2.0)
    return mask


def _weighted_stats(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of (S, S, C) ``x`` weighted by (S, S) ``w``."""
    wsum = max(float(w.sum()), 1e-6)
    mean = np.tensordot(w, x, axes=([0, 1], [0, 1])) / wsum  # (C,)
    var = np.tensordot(w, (x - mean) ** 2, axes=([0, 1], [0, 1])) / wsum
    return mean, np.sqrt(np.maximum(var, 1e-6))


def rct(src: np.ndarray, ref: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Reinhard colour transfer: move ``src``'s Lab mean/std under ``mask`` to ``ref``'s.

    src, ref: (S, S, 3) float32 RGB in [0, 1]; mask (S, S) float32 weights in [0, 1].
    Returns (S, S, 3) float32 RGB in [0, 1].
    """
    # float32 Lab: L in [0, 100], a and b about [-127, 127]
    s_lab = cv2.cvtColor(src, cv2.COLOR_RGB2Lab)
    r_lab = cv2.cvtColor(ref, cv2.COLOR_RGB2Lab)
    s_mean, s_std = _weighted_stats(s_lab, mask)
    r_mean, r_std = _weighted_stats(r_lab, mask)
    out = (s_lab - s_mean) * (r_std / s_std) + r_mean
    return np.clip(cv2.cvtColor(out.astype(np.float32), cv2.COLOR_Lab2RGB), 0.0, 1.0)


def hist_match(src: np.ndarray, ref: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Histogram matching per RGB channel, the histograms taken where ``mask`` > 0.5.

    Same shapes and ranges as ``rct``. Levels are 8-bit: each channel's CDF of
    ``src`` is mapped onto ``ref``'s.
    """
    sel = mask > 0.5
    if not sel.any():
        return src
    s8 = np.clip(src * 255.0 + 0.5, 0, 255).astype(np.uint8)
    r8 = np.clip(ref * 255.0 + 0.5, 0, 255).astype(np.uint8)
    out = np.empty_like(src)
    levels = np.arange(256, dtype=np.float64)
    for c in range(3):
        s_cdf = np.cumsum(np.bincount(s8[..., c][sel], minlength=256)).astype(np.float64)
        r_cdf = np.cumsum(np.bincount(r8[..., c][sel], minlength=256)).astype(np.float64)
        lut = np.interp(s_cdf / s_cdf[-1], r_cdf / r_cdf[-1], levels)  # src level -> ref level
        out[..., c] = lut[s8[..., c]] / 255.0
    return out


def color_transfer(src: np.ndarray, ref: np.ndarray, mask: np.ndarray, mode: str = "rct") -> np.ndarray:
    """Match ``src``'s colours to ``ref`` under ``mask`` with ``mode`` in ``COLOR_MODES`` (see ``rct``)."""
    if mode == "rct":
        return rct(src, ref, mask)
    if mode == "hist":
        return hist_match(src, ref, mask)
    if mode == "none":
        return src
    raise ValueError(f"color={mode!r}: choose one of {COLOR_MODES}")


def sharpen(face: np.ndarray, amount: float, sigma: float = 1.0) -> np.ndarray:
    """Unsharp mask: ``face + amount * (face - blur(face))``, (S, S, 3) float32 in [0, 1] -> the same.

    The model's face is stretched from its crop size to the face's size in the
    frame, which softens it; a light unsharp mask in crop space (``sigma`` in crop
    px) restores edge contrast before the paste. 0 = off. Too much draws halos,
    which the self-swap's face SSIM (05_evaluate, ``b2b``) shows as a drop.
    """
    if amount <= 0:
        return face
    blurred = cv2.GaussianBlur(face, (0, 0), sigma)
    return np.clip(face + amount * (face - blurred), 0.0, 1.0)


def seamless(face: np.ndarray, ref: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Poisson-clone the swapped ``face`` into the original crop ``ref`` where ``mask`` > 0.5.

    face, ref: (S, S, 3) uint8 aligned crops; mask (S, S) float32. Returns (S, S, 3)
    uint8. Cloning happens in crop space at the model's size, where it costs about
    a millisecond (the same solve over a 720p face box costs ~100x more) and where
    the face has all the detail it will ever have; ``paste`` then feathers the edge.
    """
    hard = np.where(mask > 0.5, 255, 0).astype(np.uint8)
    # seamlessClone samples one pixel around the mask: keep it clear of the crop's border
    hard[:2], hard[-2:], hard[:, :2], hard[:, -2:] = 0, 0, 0, 0
    x, y, w, h = cv2.boundingRect(hard)
    if w < 3 or h < 3:
        return face
    # OpenCV puts the mask's bounding box at center - size // 2: this centre keeps it in place
    return cv2.seamlessClone(face, ref, hard, (x + w // 2, y + h // 2), cv2.NORMAL_CLONE)


def _mask_box(mask: np.ndarray, matrix: np.ndarray, frame_shape) -> tuple[int, int, int, int] | None:
    """Frame box (x0, y0, x1, y1) covering the crop's non-zero mask: tighter than ``align.roi``'s whole crop."""
    x, y, w, h = cv2.boundingRect((mask > 0).astype(np.uint8))
    if w == 0 or h == 0:
        return None
    corners = align.transform_points(np.array([[x, y], [x + w, y], [x, y + h], [x + w, y + h]]), align.invert(matrix))
    fh, fw = frame_shape[:2]
    x0, y0 = np.maximum(np.floor(corners.min(0)).astype(int), 0)
    x1, y1 = np.ceil(corners.max(0)).astype(int)
    x1, y1 = min(x1, fw), min(y1, fh)
    return None if x1 <= x0 or y1 <= y0 else (int(x0), int(y0), int(x1), int(y1))


def paste(frame: np.ndarray, face: np.ndarray, mask: np.ndarray, matrix: np.ndarray) -> bool:
    """Alpha-blend a crop-space ``face`` into ``frame`` IN PLACE, touching only the mask's box.

    frame: (H, W, 3) uint8, writable; face: (S, S, 3) uint8 aligned crop;
    mask: (S, S) float32 in [0, 1] (the alpha); matrix: (2, 3) frame -> crop.
    Returns False when nothing lands in the frame.
    """
    box = _mask_box(mask, matrix, frame.shape)
    if box is None:
        return False
    x0, y0, x1, y1 = box
    # face and alpha travel together: ONE warp of a (S, S, 4) uint8 into the box
    rgba = np.dstack([face, (mask * 255.0 + 0.5).astype(np.uint8)])
    warped = align.uncrop_to_roi(rgba, matrix, box)  # (h, w, 4) uint8; alpha 0 outside the crop
    src = cv2.cvtColor(warped, cv2.COLOR_RGBA2RGB)  # contiguous (h, w, 3): blendLinear is 2x faster on it
    a = warped[..., 3].astype(np.float32) * (1.0 / 255.0)  # (h, w) weights in [0, 1]
    region = frame[y0:y1, x0:x1]  # a view: writing it writes the frame
    region[:] = cv2.blendLinear(src, np.ascontiguousarray(region), a, 1.0 - a)
    return True


def put_label(frame: np.ndarray, text: str) -> None:
    """Draw a visible ``text`` mark (e.g. "SYNTHETIC") IN PLACE in the frame's top-left corner, sized to the frame."""
    if not text:
        return
    h = frame.shape[0]
    scale = max(h / 720.0, 0.35)
    thick = max(1, int(round(2 * scale)))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    pad = max(2, int(6 * scale))
    # a dark box behind white text keeps the mark readable on any background
    cv2.rectangle(frame, (0, 0), (tw + 2 * pad, th + base + 2 * pad), (0, 0, 0), thickness=-1)
    cv2.putText(frame, text, (pad, pad + th), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick, cv2.LINE_AA)
