"""The lookup baseline, the distance to the nearest exemplar, mouth and gaze, and "was a face pasted", on real GRID
frames and real MediaPipe landmarks: a frame's own crop is found at distance 0 wherever the face sits in the frame,
and pasted back it scores what a perfect model of its size scores; another frame's crop scores less."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from swaplab.core import assets, video
from swaplab.face import align, metrics
from swaplab.face.landmarks import EYES, Landmarker
from swaplab.judge import frames as frame_measures
from swaplab.judge import lookup, motion
from swaplab.judge.numbers import pearson

CLIP = "samples/grid/s1/pwbq6p.mpg"
SIZE = 128


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    """[(frame (288, 360, 3) uint8, (478, 2) landmarks)] of 8 frames spread over 2 s of an s1 clip."""
    clip = assets.fetch(CLIP, data_dir=tmp_path_factory.mktemp("clips"))
    out = []
    with Landmarker("image", num_faces=1) as lm:
        for f in video.FrameReader(clip, duration=2.0, every=6):
            out.append((f.image, lm.detect(f.image)[0].landmarks.astype(np.float64)))
    return out[:8]


def _exemplars(shots, skip=()):
    """Exemplars of the shots' own aligned crops at SIZE px (leaving out the indices in ``skip``)."""
    crops, points = [], []
    for i, (image, lms) in enumerate(shots):
        if i in skip:
            continue
        m = align.alignment_matrix(lms, SIZE)
        crops.append(align.crop(image, m, SIZE))
        points.append(align.transform_points(lms[metrics.INNER_FACE], m))
    return lookup.Exemplars(np.array(points), lambda i: crops[i], SIZE, "test crops")


def _moved(points: np.ndarray, angle: float, scale: float, shift) -> np.ndarray:
    c, s = scale * np.cos(angle), scale * np.sin(angle)
    return points @ np.array([[c, s], [-s, c]]) + shift


def test_a_frames_own_crop_is_nearest_at_distance_zero_however_the_face_sits(shots):
    ex = _exemplars(shots)
    image, lms = shots[3]
    for moved in (lms, _moved(lms, 0.2, 1.3, (15.0, -8.0))):  # the same face turned, larger and shifted in the frame
        i, d, m = ex.nearest(moved)
        assert i == 3 and d < 0.01  # % of the eye-corner span
        assert np.abs(align.transform_points(moved[metrics.INNER_FACE], m) - ex.points[3]).max() < 0.01  # px
    others = _exemplars(shots, skip={3})
    i, d, _ = others.nearest(lms)
    assert 0.2 < d < 5.0  # another moment of the same speaker: near, not the same


def test_the_own_crop_pasted_back_scores_a_perfect_model_and_another_scores_less(shots):
    image, lms = shots[3]
    box = metrics.inner_face_box(lms, image.shape)
    where = metrics.inner_face_mask(lms, box)

    def score(ex):
        i, _, m = ex.nearest(lms)
        pasted = ex.paste(image, lms, i, m)
        outside = ~metrics.hull_mask(lms, image.shape)
        assert np.array_equal(pasted[outside], image[outside])  # pasted inside the face hull only
        return metrics.band_detail(pasted, image, box, (), where)["fine"]

    perfect = metrics.band_detail(metrics.perfect_paste(image, lms, SIZE, box), image, box, (), where)["fine"]
    own = score(_exemplars(shots))
    assert own == pytest.approx(perfect, abs=0.05) and own > 0.8  # registered: the paste lands where the face is
    assert score(_exemplars(shots, skip={3})) < own - 0.03  # the nearest other moment (a quarter second away)


def test_thirds_split_at_the_tertiles_and_skip_frames_without_a_score():
    d = [0.5, 3.0, 1.0, None, 2.0, 0.7, 2.5, 1.5, 0.9, 4.0]
    swap = [0.9, 0.4, 0.8, 0.5, 0.5, 0.85, 0.45, 0.6, None, 0.3]
    t = lookup.thirds(d, {"detail_fine": swap, "lookup_fine": [0.7] * 10})
    assert [t[k]["frames"] for k in lookup.THIRDS] == [3, 2, 3]  # 8 frames with both a distance and a score
    assert t["near"]["distance"] == [0.5, 1.0] and t["far"]["distance"] == [2.5, 4.0]
    assert t["near"]["detail_fine"] == 0.85 and t["far"]["detail_fine"] == 0.4 and t["middle"]["lookup_fine"] == 0.7
    assert lookup.thirds([None], {"x": [1.0]}) == {}


def test_mouth_gap_follows_speech_and_gaze_reads_the_iris_in_its_eye(shots):
    gaps = [motion.mouth_gap(lms) for _, lms in shots]
    assert min(gaps) < 0.03 and 0.05 < max(gaps) < 0.4  # lips closed and open while speaking
    fake = np.zeros((478, 2))
    for (left, right, iris), y in zip(EYES.values(), (100.0, 100.0)):
        fake[left], fake[right] = (left * 0.1, y), (left * 0.1 + 40, y)
        fake[iris] = (left * 0.1 + 30, y + 4)  # three quarters of the way to the eye's right corner, a little low
    for eye in EYES:
        g = motion.gaze(fake)
        assert g[f"gaze_{eye}_x"] == pytest.approx(0.75) and g[f"gaze_{eye}_y"] == pytest.approx(0.1)
    r, n, why = pearson([0.1, 0.2, None, 0.3, 0.1], [0.2, 0.4, 0.5, 0.6, 0.2])
    assert r == pytest.approx(1.0) and n == 4 and why is None
    assert pearson([0.1, 0.1, 0.1], [0.2, 0.3, 0.4])[2].startswith("the input does not change")
    assert "only 2 frames" in pearson([0.1, 0.2], [0.3, 0.4])[2]


def test_a_pasted_face_is_told_from_an_encoders_change(shots, tmp_path):
    """The rule of ``frames.PASTE_*``: another person's face, or a soft 32 px face of the same one, pasted in is a
    paste; a hard JPEG, noise or a blur of the whole frame change the face and its surroundings alike and are not.
    (A paste as good as a perfect 64 px model is not told from the input by its pixels: 04_swap's count is.)"""
    image, lms = shots[3]
    box = metrics.inner_face_box(lms, image.shape)

    def pasted(other):
        face, around = frame_measures.paste_change(image, other, lms, box)
        return face > max(frame_measures.PASTE_FLOOR, frame_measures.PASTE_RATIO * around)

    other = assets.fetch("samples/grid/s2/pwij3p.mpg", data_dir=tmp_path)
    with Landmarker("image", num_faces=1) as lm:
        s2 = [(f.image, lm.detect(f.image)[0].landmarks.astype(np.float64)) for f in video.FrameReader(other, duration=0.5, every=4)]
    ex = _exemplars(s2)
    i, _, m = ex.nearest(lms)
    assert pasted(ex.paste(image, lms, i, m))
    assert pasted(metrics.perfect_paste(image, lms, 32, box))
    jpeg = cv2.imdecode(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 30])[1], cv2.IMREAD_UNCHANGED)
    noisy = np.clip(image + np.random.default_rng(0).normal(0, 6, image.shape), 0, 255).astype(np.uint8)
    for unchanged in (image, jpeg, noisy, cv2.GaussianBlur(image, (0, 0), 2.0)):
        assert not pasted(unchanged)
