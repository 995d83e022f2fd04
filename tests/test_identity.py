"""identity: dlib embeddings put the same person closer than two different people."""

import itertools

import numpy as np

from swaplab.core import assets, video
from swaplab.face import identity, landmarks


def _faces(key: str, n: int = 3):
    """(frame, landmarks) of ``n`` frames spread over a clip."""
    frames = video.sample_frames(assets.fetch(key), n)
    with landmarks.Landmarker("image") as lm:
        return [(f.image, lm.detect(f.image)[0]) for f in frames]


def test_same_person_closer_than_different():
    emb = identity.Embedder()
    s1 = [emb.embed(img, face.landmarks) for img, face in _faces("samples/grid/s1/bbaf2n.mpg") + _faces("samples/grid/s1/lgil4n.mpg", 2)]
    s2 = [emb.embed(img, face.landmarks) for img, face in _faces("samples/grid/s2/pwij3p.mpg")]
    assert all(e.shape == (128,) and e.dtype == np.float32 for e in s1 + s2)
    same = [identity.distance(a, b) for a, b in itertools.combinations(s1, 2)]
    other = [identity.distance(a, b) for a in s1 for b in s2]
    assert max(same) < identity.SAME_PERSON < min(other), (max(same), min(other))
    c = identity.centroid(np.stack(s1))
    assert identity.distance(np.stack(s2), c).min() > identity.distance(np.stack(s1), c).max()


def test_box_path_and_crops_agree_with_landmark_path():
    emb = identity.Embedder()
    (img, face), = _faces("samples/grid/s1/bbaf2n.mpg", 1)
    by_landmarks = emb.embed(img, face.landmarks)
    assert identity.distance(emb.embed(img, face.bbox), by_landmarks) < 0.4
    from swaplab.face import align

    crop, _ = align.crop_face(img, face.landmarks, 256)
    assert emb.embed_crops(np.stack([crop])).shape == (1, 128)
    assert identity.distance(emb.embed_crops([crop])[0], by_landmarks) < 0.2


def test_dominant_identity():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 0.1, 128), rng.normal(0, 0.1, 128)
    e = np.concatenate([a + rng.normal(0, 0.01, (8, 128)), b + rng.normal(0, 0.01, (3, 128))]).astype(np.float32)
    centre, share = identity.dominant(e)
    assert identity.distance(centre, a) < 0.1 and abs(share - 8 / 11) < 1e-6
