"""Where the inner-face detail ratio is fooled: a swap against Gaussian blurs of its own input.

Scores, over the same frames and the same inner-face box (``evaluate.inner_face_box``), the
detail ratio (``evaluate.inner_face_detail``, swapped over input) of a swapped video and of the
input blurred with sigma 1, 1.5, 2 and 3, at the measure's own size (96 px) and at coarser ones,
and writes the boxes side by side (input, swap, the blurs) so a person can rank them by eye.
A measure a person can trust ranks the swap where the eye does; the ratio it prints after the
table is the swap's score over the score of the blur that looks like it (the user names it).

    python benchmarks/detail_blind_spot.py INPUT SWAPPED [--frames 8] [--out docs/ablation/blind_spot.jpg]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from swaplab import evaluate, video
from swaplab.landmarks import Landmarker

SIGMAS = (1.0, 1.5, 2.0, 3.0)
SIZES = (96, 48, 32)


def scores(input_video: str, swapped: str, frames: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """({"size": (n_frames, 1 + len(SIGMAS)) ratios: swap, then each blur}, picture of the middle frame's boxes)."""
    inp, out = video.sample_frames(input_video, n=frames), video.sample_frames(swapped, n=frames)
    rows: dict[int, list] = {s: [] for s in SIZES}
    picture = None
    with Landmarker() as lm:
        for k, (fi, fo) in enumerate(zip(inp, out)):
            faces = lm.detect(fi.image)
            box = evaluate.inner_face_box(faces[0].landmarks, fi.image.shape) if faces else None
            if box is None:
                continue
            images = [fo.image] + [cv2.GaussianBlur(fi.image, (0, 0), s) for s in SIGMAS]
            for size in SIZES:
                base = evaluate.inner_face_detail(fi.image, box, size)
                rows[size].append([evaluate.inner_face_detail(im, box, size) / base for im in images])
            if k == len(inp) // 2:
                x0, y0, x1, y1 = box
                picture = np.hstack([cv2.resize(im[y0:y1, x0:x1], (192, 192), interpolation=cv2.INTER_CUBIC)
                                     for im in [fi.image] + images])
    return {s: np.array(v) for s, v in rows.items()}, picture


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input")
    ap.add_argument("swapped", help="a swap of INPUT, not side by side, same frames (04_swap with SIDE_BY_SIDE=False)")
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--out", default="", help="write the boxes (input | swap | blurs) here")
    args = ap.parse_args()
    rows, picture = scores(args.input, args.swapped, args.frames)
    print(f"median detail ratio over {len(rows[SIZES[0]])} frames (1 = the input's detail)")
    print(f"{'box size':>9} {'swap':>6} " + " ".join(f"{'blur ' + format(s, 'g'):>9}" for s in SIGMAS))
    for size, r in rows.items():
        med = np.median(r, 0)
        print(f"{size:>6} px {med[0]:6.2f} " + " ".join(f"{x:9.2f}" for x in med[1:]))
    med = np.median(rows[SIZES[0]], 0)
    like = int(np.argmin(np.abs(med[1:] - med[0])))
    print(f"at {SIZES[0]} px the swap scores like a sigma-{SIGMAS[like]:g} blur of its input "
          f"({med[0]:.2f} vs {med[1 + like]:.2f}); compare the picture to see which blur it looks like")
    if args.out and picture is not None:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(args.out, cv2.cvtColor(picture, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
        print(f"wrote {args.out}: input | swap | " + " | ".join(f"blur {s:g}" for s in SIGMAS))


if __name__ == "__main__":
    main()
