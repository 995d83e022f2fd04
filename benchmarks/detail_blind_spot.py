"""Where the inner-face detail ratio is fooled: a swap against Gaussian blurs of its own input.

Scores, over the same frames and the same inner-face box (``metrics.inner_face_box``), the
detail ratio (``metrics.inner_face_detail``, swapped over input) of a swapped video and of the
input blurred with sigma 1, 1.5, 2 and 3, at the measure's own size (96 px) and at coarser ones,
and writes the boxes side by side (input, swap, the blurs) so a person can rank them by eye.
A measure a person can trust ranks the swap where the eye does; the ratio it prints after the
table is the swap's score over the score of the blur that looks like it (the user names it).

Two candidates that do not count energy are scored beside it, at the frame's own resolution:

- **edge width**: the input's median edge width over the image's (Marziliano et al. 2002: from
  each strong edge pixel, the distance between the intensity extremes on either side, along the
  gradient's main axis). A width is a length, so another face's contrast cannot raise it.
- **band detail** (``metrics.band_detail``, 05_evaluate's headline): the correlation of the
  image's fine band (difference of Gaussians of 0.5 and 1 px) with the input's, inside the hull
  of the inner face. A gain cannot raise it, grain lowers it; another face's own features lower
  it too, so for a swap to another person it is a lower bound.

    python benchmarks/detail_blind_spot.py INPUT SWAPPED [--frames 8] [--out docs/ablation/blind_spot.jpg]

SWAPPED may be side by side (04_swap's default): a frame twice INPUT's width is cut to its right half.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from swaplab.core import video
from swaplab.face import metrics
from swaplab.face.landmarks import Landmarker

SIGMAS = (1.0, 1.5, 2.0, 3.0)
SIZES = (96, 48, 32)
STRONG_EDGES = 0.1  # the share of the box's pixels, by gradient, that edge width is measured at


def _extreme(line: np.ndarray, start: int, step: int, sign: float) -> int:
    """Index of the first extreme from ``start`` walking by ``step`` while ``sign * line`` rises (1 grey level of slack)."""
    best = i = start
    while 0 < i + step < len(line) - 1:
        i += step
        if sign * (line[i] - line[best]) > 0:
            best = i
        elif sign * (line[best] - line[i]) > 1.0:
            break
    return best


def edge_width(grey: np.ndarray) -> float:
    """Median width in px of the strongest edges (non-maximum suppressed) of a grey float image."""
    gx, gy = cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)
    mag, across = np.hypot(gx, gy), np.abs(gx) >= np.abs(gy)
    m = mag[1:-1, 1:-1]
    peak = np.where(across[1:-1, 1:-1], (m >= mag[1:-1, :-2]) & (m >= mag[1:-1, 2:]),
                    (m >= mag[:-2, 1:-1]) & (m >= mag[2:, 1:-1]))
    strong = peak & (m >= np.quantile(m, 1 - STRONG_EDGES))
    widths = []
    for y, x in zip(*np.nonzero(strong)):
        y, x = y + 1, x + 1
        line, at, sign = (grey[y], x, np.sign(gx[y, x])) if across[y, x] else (grey[:, x], y, np.sign(gy[y, x]))
        step = int(sign) or 1
        widths.append(abs(_extreme(line, at, step, 1.0) - _extreme(line, at, -step, -1.0)))
    return float(np.median(widths)) if widths else float("nan")


def scores(input_video: str, swapped: str, frames: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """({row name: (n_frames, 1 + len(SIGMAS)) scores: swap, then each blur}, picture of the middle frame's boxes)."""
    inp, out = video.sample_frames(input_video, n=frames), video.sample_frames(swapped, n=frames)
    rows: dict[str, list] = {}
    picture = None
    with Landmarker() as lm:
        for k, (fi, fo) in enumerate(zip(inp, out)):
            faces = lm.detect(fi.image)
            box = metrics.inner_face_box(faces[0].landmarks, fi.image.shape) if faces else None
            if box is None:
                continue
            where = metrics.inner_face_mask(faces[0].landmarks, box)
            swap = fo.image[:, fi.image.shape[1]:] if fo.image.shape[1] == 2 * fi.image.shape[1] else fo.image
            images = [swap] + [cv2.GaussianBlur(fi.image, (0, 0), s) for s in SIGMAS]
            for size in SIZES:
                base = metrics.inner_face_detail(fi.image, box, size)
                rows.setdefault(f"detail ratio at {size} px", []).append(
                    [metrics.inner_face_detail(im, box, size) / base for im in images])
            width = edge_width(metrics.grey_area(fi.image, box, 0)[0])
            rows.setdefault("edge width, input / image", []).append(
                [width / edge_width(metrics.grey_area(im, box, 0)[0]) for im in images])
            rows.setdefault("band detail (fine)", []).append([metrics.band_detail(im, fi.image, box, (), where)["fine"]
                                                              for im in images])
            if k == len(inp) // 2:
                x0, y0, x1, y1 = box
                picture = np.hstack([cv2.resize(im[y0:y1, x0:x1], (192, 192), interpolation=cv2.INTER_CUBIC)
                                     for im in [fi.image] + images])
    return {name: np.array(v) for name, v in rows.items()}, picture


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input")
    ap.add_argument("swapped", help="a swap of INPUT, same frames (side by side or not)")
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--out", default="", help="write the boxes (input | swap | blurs) here")
    args = ap.parse_args()
    rows, picture = scores(args.input, args.swapped, args.frames)
    first = f"detail ratio at {SIZES[0]} px"
    print(f"medians over {len(rows[first])} frames (1 = the input's own)")
    print(f"{'':>27} {'swap':>6} " + " ".join(f"{'blur ' + format(s, 'g'):>9}" for s in SIGMAS))
    for name, r in rows.items():
        med = np.median(r, 0)
        print(f"{name:>27} {med[0]:6.2f} " + " ".join(f"{x:9.2f}" for x in med[1:]))
    for name in (first, "edge width, input / image", "band detail (fine)"):
        med = np.median(rows[name], 0)
        like = int(np.argmin(np.abs(med[1:] - med[0])))
        print(f"by {name} the swap scores like a sigma-{SIGMAS[like]:g} blur of its input "
              f"({med[0]:.2f} vs {med[1 + like]:.2f})")
    print("compare the picture to see which blur it looks like")
    if args.out and picture is not None:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(args.out, cv2.cvtColor(picture, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
        print(f"wrote {args.out}: input | swap | " + " | ".join(f"blur {s:g}" for s in SIGMAS))


if __name__ == "__main__":
    main()
