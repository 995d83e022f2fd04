"""The image measures on real GRID frames: band detail calibrated on blurs, not fooled by gain, lowered by grain."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from swaplab.core import assets, video
from swaplab.face import metrics
from swaplab.face.landmarks import Landmarker


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    """[(frame, landmarks, inner box, the frame after an H.264 re-encode)] for 6 frames of a held-back s1 clip."""
    tmp = tmp_path_factory.mktemp("metrics")
    clip = assets.fetch("samples/grid/s1/pwbq6p.mpg", data_dir=tmp)
    images = [f.image for f in video.FrameReader(clip, duration=2.4)][::10]
    with video.VideoWriter(tmp / "re.mp4", fps=25) as w:  # SwapLab's own encoder settings
        for im in images:
            w.write(im)
    again = [f.image for f in video.FrameReader(tmp / "re.mp4")]
    out = []
    with Landmarker("image", num_faces=1) as lm:
        for im, re in zip(images, again):
            lms = lm.detect(im)[0].landmarks
            out.append((im, lms, metrics.inner_face_box(lms, im.shape), re))
    return out


def _score(frames, change, band="fine") -> float:
    """Median band score over the frames of ``change(frame, landmarks, box, re-encoded)`` against the frame."""
    return float(np.median([metrics.band_detail(change(f, lm, box, re), f, box, ladder=())[band] for f, lm, box, re in frames]))


def _blur(image, sigma):
    return cv2.GaussianBlur(image, (0, 0), sigma)


def _unsharp(image, amount, sigma):
    f = image.astype(np.float32)
    return np.clip(f + amount * (f - cv2.GaussianBlur(f, (0, 0), sigma)), 0, 255).astype(np.uint8)


def test_band_detail_is_calibrated_on_blurs_of_real_frames(frames):
    assert _score(frames, lambda f, *_: f) == pytest.approx(1.0)
    reencoded = _score(frames, lambda f, lm, box, re: re)
    assert 0.8 < reencoded < 0.99  # just under the input
    blurs = [_score(frames, lambda f, *_, s=s: _blur(f, s)) for s in (1.0, 1.5, 2.0, 3.0)]
    assert reencoded > blurs[0] and blurs == sorted(blurs, reverse=True) and blurs[-1] < 0.5, blurs
    mids = [_score(frames, lambda f, *_, s=s: _blur(f, s), "mid") for s in (1.0, 1.5, 2.0, 3.0)]
    assert mids == sorted(mids, reverse=True) and all(m > b for m, b in zip(mids, blurs))  # a blur costs the mid band less


def test_sharpening_cannot_buy_detail(frames):
    """A strongly sharpened 2 px blur scores no better than a 1.5 px blur."""
    sharpened = max(_score(frames, lambda f, *_, a=a, s=s: _unsharp(_blur(f, 2.0), a, s)) for a, s in ((2, 1), (4, 1.5), (8, 1)))
    assert sharpened <= _score(frames, lambda f, *_: _blur(f, 1.5))


def test_a_gain_does_not_move_it(frames):
    """A contrast change is a gain on every band: nothing moves. An unsharp mask is a gain on the fine bands, shaped
    a little within each: on the sharp input it moves the fine score by under 0.03 (a blur of 1 px costs 0.15)."""
    soft = _score(frames, lambda f, *_: _blur(f, 1.5))
    # (a gain below 1 would lose fine detail to the uint8 rounding: that is a real loss, and the score sees it)
    stretched = _score(frames, lambda f, *_: np.clip((_blur(f, 1.5).astype(np.float32) - 120) * 1.4 + 120, 0, 255).astype(np.uint8))
    assert stretched == pytest.approx(soft, abs=0.01)
    assert _score(frames, lambda f, *_: _unsharp(f, 1.0, 1.0)) > 0.97
    assert _score(frames, lambda f, *_: _unsharp(f, 1.0, 1.0), "mid") > 0.98


def test_grain_and_foreign_detail_lower_it(frames):
    rng = np.random.default_rng(0)
    soft = _score(frames, lambda f, *_: _blur(f, 1.0))
    grainy = _score(frames, lambda f, *_: np.clip(_blur(f, 1.0) + rng.normal(0, 4, f.shape), 0, 255).astype(np.uint8))
    assert grainy < soft - 0.05
    # the fine detail of ANOTHER frame (mouth and eyes elsewhere) added to a blur: energy in the band, not the input's
    other = frames[-1][0].astype(np.float32)
    foreign = _score(frames, lambda f, *_: np.clip(_blur(f, 1.0) + 2 * (other - _blur(other, 1.0)), 0, 255).astype(np.uint8))
    assert foreign < soft - 0.05


def test_ceilings_sit_between_blurs_and_grow_with_the_model_size(frames):
    c64, c128, c256 = (_score(frames, lambda f, lm, box, re, n=n: metrics.perfect_paste(f, lm, n, box)) for n in (64, 128, 256))
    assert _score(frames, lambda f, *_: _blur(f, 2.5)) < c64 < c128 < c256 <= 1.0
    # a GRID face spans ~175 px: a perfect 64 px model loses about what a 1.5-2 px blur does, a 128 px one far less
    assert c64 < _score(frames, lambda f, *_: _blur(f, 1.0)) < c128


def test_blur_equivalent_reads_the_ladder():
    ladder = [0.95, 0.8, 0.7, 0.6, 0.4, 0.3]
    assert metrics.blur_equivalent(1.0, ladder) == 0.0
    assert metrics.blur_equivalent(0.8, ladder) == pytest.approx(1.0)
    assert metrics.blur_equivalent(0.65, ladder) == pytest.approx(1.75)
    assert metrics.blur_equivalent(0.1, ladder) == pytest.approx(4.0)
    assert metrics.blur_equivalent(0.85, [0.95, 0.8, 0.9, 0.6, 0.4, 0.3]) == pytest.approx(5 / 6, abs=1e-6)  # a non-monotone rung is flattened


def test_band_detail_without_texture_is_none():
    flat = np.full((64, 64, 3), 128, np.uint8)
    d = metrics.band_detail(flat, flat, (10, 10, 50, 50))
    assert d["fine"] is None and d["mid"] is None and d["fine_ladder"] == [None] * len(metrics.BLUR_LADDER)
    # a flat swap of a textured frame has none of its detail: 0, not left out of the median
    textured = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    assert metrics.band_detail(flat, textured, (10, 10, 50, 50))["fine"] == 0.0
