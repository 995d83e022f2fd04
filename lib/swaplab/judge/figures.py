"""Figures of a swap: per-frame metric curves, and strips of input frames above swapped ones.

05_evaluate draws all three from a result of ``evaluate.evaluate_swap``; 04_swap shows a
``frame_strip`` of what it wrote. A swapped video may be the swap alone or original |
swapped side by side (``video.side_by_side_layout`` tells which), and its frames are read
back from the written file, so a strip shows what was encoded. Everything is drawn
without pyplot (no window opens headless) and saved atomically (``save_image``).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from swaplab.core import video
from swaplab.core.files import atomic_path


def save_image(image: np.ndarray, path: str | Path) -> Path:
    """Write an (H, W, 3) uint8 RGB image as PNG or JPEG (by the path's ending), atomically; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(path.suffix.lower() or ".png", cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError(f"{path}: cannot write an image with this ending; use .png or .jpg")
    with atomic_path(path) as tmp:
        tmp.write_bytes(data.tobytes())
    return path


def plot_metrics(result: dict, targets: dict, out_dir: str | Path | None = None, name: str = "metrics_per_frame.png",
                 label: str = ""):
    """Per-frame pose error, identity distances, jitter, face-region change, band detail beside the perfect models
    and the lookup, face SSIM, and the mouth gap of input and swap; saved as ``name``. ``label`` (e.g. "SEEN: ...")
    heads the title.

    Returns the matplotlib Figure (built without pyplot, so a headless run
    opens no window and a notebook shows it once, as the cell's value).
    """
    from matplotlib.figure import Figure

    pf = result["per_frame"]
    t = np.asarray(pf["time"], float)

    def arr(key):  # None -> NaN: matplotlib leaves a gap
        return np.array(pf.get(key, [None] * len(t)), dtype=float)  # a result of an older 05 may lack a measure

    fig = Figure(figsize=(10, 13), layout="constrained")
    ax = fig.subplots(6, 1, sharex=True)
    for k in ("yaw_error", "pitch_error", "roll_error"):
        ax[0].plot(t, arr(k), label=k.split("_")[0])
    ax[0].axhline(targets["pose_error_deg"], color="k", ls=":", lw=1, label="target (mean)")
    ax[0].set_ylabel("pose error (deg)")
    # identity is measured on a sample of frames: points, not lines
    ax[1].plot(t, arr("dist_target"), label="swapped to target", color="tab:green", ls="none", marker="o", ms=3)
    ax[1].plot(t, arr("dist_source"), label="swapped to source", color="tab:red", ls="none", marker="o", ms=3)
    ax[1].plot(t, arr("input_dist_target"), label="input to target", color="tab:green", ls="none", marker="+")
    ax[1].plot(t, arr("input_dist_source"), label="input to source", color="tab:red", ls="none", marker="+")
    ax[1].set_ylabel("identity distance")
    ax[2].plot(t, arr("jitter_input"), label="input", color="tab:gray")
    ax[2].plot(t, arr("jitter_swapped"), label="swapped", color="tab:blue")
    ax[2].set_ylabel("landmark jitter\n(/ face size)")
    ax[3].plot(t, arr("change_input"), label="input", color="tab:gray")
    ax[3].plot(t, arr("change_swapped"), label="swapped", color="tab:blue")
    ax[3].set_ylabel("face change\n(grey levels / frame)")
    ax[4].plot(t, arr("detail_fine"), label="fine detail vs input", color="tab:purple")
    ax[4].plot(t, arr("ceiling64_fine"), label="a perfect 64 px model", color="k", ls=":", lw=1)
    ax[4].plot(t, arr("ceiling128_fine"), label="a perfect 128 px model", color="k", ls="--", lw=1)
    ax[4].plot(t, arr("lookup_fine"), label="the lookup (nearest exemplar, no model)", color="tab:brown", lw=1)
    ax[4].plot(t, arr("detail_mid"), label="mid detail vs input", color="tab:pink")
    ax[4].plot(t, arr("face_ssim"), label="face SSIM", color="tab:orange")
    ax[4].set_ylabel("inner-face detail\nand face SSIM")
    ax[5].plot(t, arr("input_mouth_gap"), label="input", color="tab:gray")
    ax[5].plot(t, arr("swapped_mouth_gap"), label="swapped", color="tab:blue")
    ax[5].set_ylabel("inner-lip gap\n(/ eye-corner span)")
    ax[5].set_xlabel("time in the input (s)")
    for a in ax:
        a.legend(loc="upper right", fontsize=8, ncols=2)
        a.grid(alpha=0.3)
    fig.suptitle((f"{label}\n" if label else "") + f"{Path(result['swapped']).name}: per-frame metrics")
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        with atomic_path(Path(out_dir) / name) as tmp:
            fig.savefig(tmp, dpi=100)
    return fig


def labelled(image: np.ndarray, label: str) -> np.ndarray:
    """A copy of an (H, W, 3) uint8 figure with ``label`` written in its top-left corner ("" leaves it as it is)."""
    from swaplab.face import blend

    out = np.ascontiguousarray(image).copy()
    blend.put_label(out, label)
    return out


def _sampled_pairs(input_video, swapped_video, n: int, start: float, duration: float | None):
    """(input frames, swapped pictures at the input's size): ``n`` frames spread evenly over the range."""
    input_info, swapped_info = video.probe(input_video), video.probe(swapped_video)
    side_by_side = video.side_by_side_layout(input_info, swapped_info)
    size = (input_info.width, input_info.height)
    count = max(1, int((duration or input_info.duration - start) * input_info.fps))
    every = max(1, count // max(n, 1))
    ins = [f.image for f in video.FrameReader(input_video, start=start, duration=duration, every=every)][:n]
    sws = [video.swapped_picture(f.image, side_by_side, size) for f in video.FrameReader(swapped_video, duration=duration, every=every)][:n]
    return ins, sws


def frame_strip(input_video: str | Path, swapped_video: str | Path, n: int = 6, start: float = 0.0,
                duration: float | None = None, height: int = 160) -> np.ndarray:
    """(2 * height, n * W', 3) uint8: ``n`` input frames spread over the range above the same swapped frames."""
    ins, sws = _sampled_pairs(input_video, swapped_video, n, start, duration)
    n = min(len(ins), len(sws))
    h, w = ins[0].shape[:2]
    width = int(round(w * height / h))
    rows = [np.hstack([cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA) for img in imgs[:n]])
            for imgs in (ins, sws)]
    return np.vstack(rows)


def face_strip(input_video: str | Path, swapped_video: str | Path, n: int = 4, start: float = 0.0,
               duration: float | None = None, pad: float = 0.15) -> np.ndarray:
    """(2 * s, n * s, 3) uint8: the face box of ``n`` frames at the input's own resolution, input above swapped.

    Nothing is downscaled (s = the largest face box, padded by ``pad``; smaller
    boxes are scaled up to it), so what is soft in the swap shows as soft here.
    """
    from swaplab.face.landmarks import Landmarker

    ins, sws = _sampled_pairs(input_video, swapped_video, n, start, duration)
    size = (ins[0].shape[1], ins[0].shape[0]) if ins else (0, 0)
    pairs = []
    with Landmarker("image", num_faces=1) as lm:
        for img_in, img_sw in zip(ins, sws):
            faces = lm.detect(img_in)
            if not faces:
                continue
            (x0, y0), (x1, y1) = faces[0].landmarks.min(0), faces[0].landmarks.max(0)
            cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, (1 + pad) * max(x1 - x0, y1 - y0) / 2
            box = [int(round(v)) for v in (cx - half, cy - half, cx + half, cy + half)]
            box = [max(box[0], 0), max(box[1], 0), min(box[2], size[0]), min(box[3], size[1])]
            pairs.append([img[box[1]:box[3], box[0]:box[2]] for img in (img_in, img_sw)])
    if not pairs:
        raise ValueError(f"no face found in the sampled frames of {input_video}: nothing to show")
    s = max(max(p[0].shape[:2]) for p in pairs)
    cols = [np.vstack([cv2.resize(c, (s, s), interpolation=cv2.INTER_CUBIC) for c in p]) for p in pairs]
    return np.hstack(cols)
