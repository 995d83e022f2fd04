"""landmarks: pose signs on the head-turn GIF, no face -> [], two faces in one frame."""

import numpy as np

from swaplab.core import assets, video
from swaplab.face import landmarks


def test_yaw_follows_the_head_turn():
    """The woman turns to one side, then the other: yaw changes sign, grows into each turn and shrinks out of it."""
    path = assets.fetch("samples/headpose/head-pose-face-detection-female.gif")
    yaw, nose = [], []
    with landmarks.Landmarker("video") as lm:
        for f in video.FrameReader(path):
            (face,) = lm.detect(f.image, int(f.time * 1000))
            pts = face.landmarks
            yaw.append(face.yaw)
            # Nose tip's offset from the middle of the cheeks, in face widths: > 0 when it points to the image right.
            nose.append((pts[1, 0] - pts[[234, 454], 0].mean()) / (pts[454, 0] - pts[234, 0]))
    yaw, nose = np.array(yaw), np.array(nose)
    assert yaw.min() < -30 and yaw.max() > 20, yaw.round()
    lo, hi = int(yaw.argmin()), int(yaw.argmax())
    assert 0 < lo < hi < len(yaw) - 1  # both turns peak inside the clip: magnitudes grow, then shrink
    assert (np.diff(yaw[:lo + 1]) <= 1).all() and (np.diff(yaw[lo:hi + 1]) >= -1).all()
    clear = np.abs(yaw) > 5
    assert (np.sign(yaw[clear]) == np.sign(nose[clear])).all()  # yaw > 0 <=> nose towards the image's right
    assert np.corrcoef(yaw, nose)[0, 1] > 0.95


def test_no_face_is_an_empty_list():
    rng = np.random.default_rng(0)
    with landmarks.Landmarker("image") as lm:
        assert lm.detect(np.zeros((240, 320, 3), np.uint8)) == []
        assert lm.detect(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)) == []


def test_two_faces_in_one_frame():
    frame = next(iter(video.FrameReader(assets.fetch("samples/headpose/head-pose-face-detection-female-and-male.gif"))))
    with landmarks.Landmarker("image", num_faces=3) as lm:
        faces = lm.detect(frame.image)
    assert len(faces) == 2
    (a0, _, a1, _), (b0, _, b1, _) = faces[0].bbox, faces[1].bbox
    assert a1 < b0 or b1 < a0  # side by side, not the same face twice
    assert faces[0].size >= faces[1].size and faces[0].blendshapes.shape == (52,)
