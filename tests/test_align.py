"""align: Umeyama, crop/un-crop round trips (points and pixels), landmark masks."""

import numpy as np
import pytest

from swaplab.core import assets, video
from swaplab.face import align, landmarks


@pytest.fixture(scope="module")
def frame_and_landmarks():
    frame = next(iter(video.FrameReader(assets.fetch("samples/grid/s1/bbaf2n.mpg"))))
    with landmarks.Landmarker("image") as lm:
        (face,) = lm.detect(frame.image)
    return frame.image, face.landmarks


def test_umeyama_recovers_a_known_similarity():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, (30, 2))
    s, th, t = 1.7, np.deg2rad(23), np.array([12.0, -5.0])
    rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    m = align.umeyama(src, src @ (s * rot).T + t)
    np.testing.assert_allclose(m, np.hstack([s * rot, t[:, None]]), atol=1e-9)


def test_crop_then_uncrop_puts_landmarks_back(frame_and_landmarks):
    image, lms = frame_and_landmarks
    crop, m = align.crop_face(image, lms, 256)
    assert crop.shape == (256, 256, 3)
    in_crop = align.transform_points(lms, m)
    assert (in_crop > 0).all() and (in_crop < 256).all()  # the whole face is in the crop
    back = align.transform_points(in_crop, align.invert(m))
    assert np.abs(back - lms).max() < 1.0
    # The same at the model's size: a rescaled matrix keeps the geometry.
    small = align.transform_points(lms, align.rescale(m, 256, 64))
    np.testing.assert_allclose(small, (in_crop + 0.5) / 4 - 0.5, atol=1e-6)  # pixel centres of the area resize


def test_uncrop_to_roi_puts_rendered_points_back(frame_and_landmarks):
    """Pixels, not just points: dots drawn in the crop land on the frame landmarks after uncrop_to_roi."""
    image, lms = frame_and_landmarks
    m = align.alignment_matrix(lms, 256)
    idx = [1, 33, 263, 61, 291, 152]  # nose tip, eye corners, mouth corners, chin
    pts = align.transform_points(lms[idx], m)
    box = align.roi(m, 256, image.shape)
    x0, y0, x1, y1 = box
    for i, p in zip(idx, pts):
        canvas = np.zeros((256, 256), np.float32)
        yy, xx = np.mgrid[:256, :256]
        canvas[:] = np.exp(-((xx - p[0]) ** 2 + (yy - p[1]) ** 2) / (2 * 3.0**2))  # a smooth blob at the point
        back = align.uncrop_to_roi(canvas, m, box)
        assert back.shape == (y1 - y0, x1 - x0)
        by, bx = np.mgrid[: back.shape[0], : back.shape[1]]
        found = np.array([(back * bx).sum(), (back * by).sum()]) / back.sum() + (x0, y0)
        assert np.linalg.norm(found - lms[i]) < 1.0, f"landmark {i}: {found} vs {lms[i]}"


def test_landmark_masks(frame_and_landmarks):
    image, lms = frame_and_landmarks
    _, m = align.crop_face(image, lms, 128)
    masks = align.landmark_masks(align.transform_points(lms, m), 128)
    assert masks.shape == (128, 128, 2) and masks.dtype == np.uint8
    assert set(np.unique(masks)) <= {0, 255}
    face, parts = masks[..., 0] > 0, masks[..., 1] > 0
    assert 0.3 < face.mean() < 0.8  # the face fills most of an aligned crop
    assert parts.any() and not (parts & ~face).any()  # eyes and mouth lie inside the face
