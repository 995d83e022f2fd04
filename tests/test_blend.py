"""Colour transfer, masks, pasting and the One-Euro filter, on synthetic arrays (milliseconds each)."""

import cv2
import numpy as np
import pytest

from swaplab.face import align, blend
from swaplab.swap.smoothing import FaceSmoother, OneEuro

S = 64


def ellipse_landmarks(cx=32.0, cy=34.0, rx=20.0, ry=25.0, n=478, seed=0) -> np.ndarray:
    """(478, 2) points filling an ellipse: the hull a face's landmarks make in a crop."""
    rng = np.random.default_rng(seed)
    ang, rad = rng.uniform(0, 2 * np.pi, n), np.sqrt(rng.uniform(0, 1, n))
    rad[:64] = 1.0  # some on the rim, so the hull is the ellipse itself
    return np.stack([cx + rx * rad * np.cos(ang), cy + ry * rad * np.sin(ang)], 1)


def masked_lab_stats(rgb, mask):
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)[mask > 0.5]
    return lab.mean(0), lab.std(0)


def test_face_mask_erode_shrinks_and_blur_feathers():
    lms = ellipse_landmarks()
    sharp = blend.face_mask(lms, S)
    eroded = blend.face_mask(lms, S, erode=4)
    soft = blend.face_mask(lms, S, erode=4, blur=3)
    assert sharp.dtype == np.float32 and sharp.shape == (S, S) and set(np.unique(sharp)) == {0.0, 1.0}
    assert eroded.sum() < 0.8 * sharp.sum() and np.all(eroded <= sharp)  # smaller, and inside
    assert 0 < ((soft > 0.02) & (soft < 0.98)).sum()  # a soft edge exists
    assert soft.min() >= 0 and soft.max() <= 1 and np.all(soft[sharp == 0] < 0.05)  # erode >= blur: stays in the hull
    with pytest.raises(ValueError, match="erode"):
        blend.face_mask(lms, S, erode=-1)


def test_rct_moves_masked_lab_mean_and_std_to_the_reference():
    rng = np.random.default_rng(1)
    mask = blend.face_mask(ellipse_landmarks(), S)
    src = np.clip(rng.normal((0.3, 0.5, 0.4), 0.05, (S, S, 3)), 0, 1).astype(np.float32)
    ref = np.clip(rng.normal((0.7, 0.5, 0.4), 0.1, (S, S, 3)), 0, 1).astype(np.float32)
    out = blend.rct(src, ref, mask)
    (m_out, s_out), (m_ref, s_ref) = masked_lab_stats(out, mask), masked_lab_stats(ref, mask)
    m_src, _ = masked_lab_stats(src, mask)
    assert out.dtype == np.float32 and out.shape == src.shape and 0 <= out.min() and out.max() <= 1
    assert np.abs(m_out - m_ref).max() < 1.5 < np.abs(m_src - m_ref).max()
    assert np.allclose(s_out, s_ref, rtol=0.15, atol=0.5)


def test_hist_match_and_none():
    rng = np.random.default_rng(2)
    mask = blend.face_mask(ellipse_landmarks(), S)
    src = rng.uniform(0.0, 0.4, (S, S, 3)).astype(np.float32)
    ref = rng.uniform(0.5, 1.0, (S, S, 3)).astype(np.float32)
    out = blend.color_transfer(src, ref, mask, "hist")
    sel = mask > 0.5
    assert np.abs(out[sel].mean(0) - ref[sel].mean(0)).max() < 0.02
    assert blend.color_transfer(src, ref, mask, "none") is src
    with pytest.raises(ValueError, match="color"):
        blend.color_transfer(src, ref, mask, "lab")


def test_paste_changes_only_the_mask_box():
    frame = np.zeros((240, 320, 3), np.uint8)
    lms_frame = ellipse_landmarks(160, 120, 40, 50)  # a "face" in the frame
    matrix = np.array([[0.5, 0.1, -60.0], [-0.1, 0.5, -30.0]])  # rotated and scaled: frame -> crop
    crop_lms = align.transform_points(lms_frame, matrix)
    mask = blend.face_mask(crop_lms, S, erode=2, blur=2)
    face = np.full((S, S, 3), 255, np.uint8)
    assert blend.paste(frame, face, mask, matrix)
    x0, y0, x1, y1 = blend._mask_box(mask, matrix, frame.shape)
    changed = frame.any(-1)
    ys, xs = np.nonzero(changed)
    assert changed.sum() > 1000 and xs.min() >= x0 and xs.max() < x1 and ys.min() >= y0 and ys.max() < y1
    assert not changed[:, : x0].any() and not changed[: y0].any()
    # fully inside the eroded hull the face replaces the frame; at the edge it fades
    inside = align.transform_points(np.array([[32.0, 34.0]]), align.invert(matrix))[0].round().astype(int)
    assert frame[inside[1], inside[0]].min() == 255 and 0 < np.median(frame[changed]) <= 255
    # a face box outside the frame pastes nothing
    far = matrix.copy()
    far[:, 2] += (1000.0, 0.0)
    assert not blend.paste(frame, face, mask, far)


def test_seamless_keeps_the_crop_outside_the_mask():
    rng = np.random.default_rng(3)
    mask = blend.face_mask(ellipse_landmarks(), S, erode=2)
    ref = rng.integers(90, 110, (S, S, 3), dtype=np.uint8)
    face = np.full((S, S, 3), 200, np.uint8)
    out = blend.seamless(face, ref, mask)
    assert out.shape == ref.shape and out.dtype == np.uint8
    outside = mask == 0  # OpenCV re-rounds its mask's bounding box: off by at most one level there
    assert np.abs(out[outside].astype(int) - ref[outside]).max() <= 1
    assert abs(float(out[mask > 0.5].mean()) - float(ref.mean())) < 20  # the flat face took the crop's level


def test_label_is_drawn_top_left_only():
    frame = np.full((288, 360, 3), 128, np.uint8)
    blend.put_label(frame, "SYNTHETIC")
    ys, xs = np.nonzero((frame != 128).any(-1))
    assert len(ys) > 100 and ys.max() < 40 and xs.max() < 180
    untouched = np.full((10, 10, 3), 7, np.uint8)
    blend.put_label(untouched, "")
    assert (untouched == 7).all()


def test_one_euro_reduces_jitter_and_follows_a_step():
    rng = np.random.default_rng(4)
    f = OneEuro(min_cutoff=1.0, beta=5.0)
    t = np.arange(100) / 25.0
    base = np.full((478, 2), 100.0)
    noisy = [base + rng.normal(0, 1.0, base.shape) for _ in t]
    out = np.array([f(x, ti, scale=100.0) for x, ti in zip(noisy, t)])
    raw_jitter = np.abs(np.diff(np.array(noisy)[50:], axis=0)).mean()
    assert np.abs(np.diff(out[50:], axis=0)).mean() < 0.3 * raw_jitter
    # a step of half a face size: followed to within 5 % of the step in 0.4 s
    f.reset()
    step = [base if ti < 1.0 else base + 50.0 for ti in t]
    out = np.array([f(x, ti, scale=100.0) for x, ti in zip(step, t)])
    assert np.abs(out[25 + 10] - (base + 50.0)).max() < 2.5
    assert np.allclose(out[:25], base)
    with pytest.raises(ValueError, match="cutoff"):
        OneEuro(min_cutoff=0)


def test_the_face_smoother_follows_a_mouth_that_opens_and_steadies_a_still_face():
    from swaplab.face import align
    from swaplab.face.sketch import INNER_LIPS

    rng = np.random.default_rng(5)
    t = np.arange(60) / 25.0
    base = rng.uniform(80.0, 180.0, (478, 2))  # a still head
    lower = [i for i in align.LIPS + INNER_LIPS if i in (146, 91, 181, 84, 17, 314, 405, 321, 375, 95, 88, 178, 87, 14,
                                                         317, 402, 318, 324)]
    opened = base.copy()
    opened[lower, 1] += 8.0  # at 1 s the lower lip drops 8 px (a mouth opening in one frame), the head stays still
    frames = [base if ti < 1.0 else opened for ti in t]
    new, old = FaceSmoother(1.0, 5.0), OneEuro(1.0, 5.0)
    out_new = np.array([new(x, ti, scale=100.0) for x, ti in zip(frames, t)])
    out_old = np.array([old(x, ti, scale=100.0) for x, ti in zip(frames, t)])
    k = 25 + 2  # two frames after the mouth opened
    assert np.allclose(out_new[k][lower, 1] - base[lower, 1], 8.0, atol=0.1)  # the lips are there at once
    assert (out_old[k][lower, 1] - base[lower, 1]).mean() < 0.6 * 8.0  # one cutoff from the mean speed lagged
    assert np.abs(out_new[k][align.STABLE_IDX] - base[align.STABLE_IDX]).max() < 0.5  # the still head stays still
    # a still face with 1 px of landmark noise: its position and size steadied (the stable points' centroid)
    new.reset()
    noisy = [base + rng.normal(0, 1.0, base.shape) for _ in t]
    out = np.array([new(x, ti, scale=100.0) for x, ti in zip(noisy, t)])
    centre = lambda pts: pts[:, align.STABLE_IDX].mean(1)  # noqa: E731
    assert np.abs(np.diff(centre(out[30:]), axis=0)).mean() < 0.5 * np.abs(np.diff(centre(np.array(noisy)[30:]), axis=0)).mean()
    # the head moves half a face size: followed as before
    new.reset()
    moved = [base if ti < 1.0 else base + 50.0 for ti in t]
    out = np.array([new(x, ti, scale=100.0) for x, ti in zip(moved, t)])
    assert np.abs(out[25 + 10] - (base + 50.0)).max() < 2.5
