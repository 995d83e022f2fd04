"""A sketched autoencoder (``ModelSpec.sketch``, MODEL="slim_sketch"): its decoders draw along the face's sketch.

The decoder of the classic net draws a mouth only as open as the code and its training faces say: a mouth opened
wider than any in the face set comes out half closed. A sketched decoder also reads the input face's lips, lids and
irises as lines (``face.sketch.for_decoder``) at every scale. These tests check that it learns to draw from them (a
dark disc placed only by the sketch), that training moves the sketch with the target face and blanks it for
``SKETCH_DROP`` of the faces, that 03_train saves and reloads such a run, and that 04's cascade hands it the
landmarks of the faces it swaps.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from swaplab.face import align, sketch
from swaplab.face.faceset import load_training_arrays
from swaplab.model import detail, runs
from swaplab.model.models import SKETCH_DROP, build_swap_model
from swaplab.train.augment import AugmentConfig
from swaplab.train.data import make_dataset, make_training_dataset
from swaplab.train.loop import TrainConfig, train

SIZE = 32
STEPS = 150  # of the disc test: the sketched decoder draws the discs by then (dark share ~0.5), the plain one never (~0)


def _disc_landmarks(centre, radius: float) -> np.ndarray:
    """(478, 2) points whose sketch is a disc: the inner lips on a circle about ``centre``, the rest at its centre."""
    pts = np.tile(np.asarray(centre, np.float32), (478, 1))
    angles = np.linspace(0, 2 * np.pi, len(sketch.INNER_LIPS), endpoint=False)
    pts[sketch.INNER_LIPS] = np.asarray(centre) + radius * np.stack([np.cos(angles), np.sin(angles)], 1)
    return pts


def _discs(n: int, seed: int):
    """(faces, masks with sketch, landmarks): grey faces with a dark disc that only the sketch places."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(9, SIZE - 9, (n, 2))
    lms = np.stack([_disc_landmarks(c, 4.0) for c in centres])
    faces = np.full((n, SIZE, SIZE, 3), 170, np.uint8)
    drawn = sketch.for_decoder(lms, SIZE)
    faces[drawn[..., 1] > 127] = 30
    masks = np.concatenate([np.full((n, SIZE, SIZE, 2), 255, np.uint8), drawn], -1)
    return faces, masks, lms


def _dark_share(out: np.ndarray, lms: np.ndarray) -> float:
    """How much darker each drawn face is inside its disc than outside, on average (0..1)."""
    inside = sketch.for_decoder(lms, SIZE)[..., 1] > 127
    grey = out.mean(-1)
    return float(np.mean([g[~m].mean() - g[m].mean() for g, m in zip(grey, inside)]))


def test_a_sketched_decoder_learns_to_draw_where_the_sketch_says_and_the_plain_one_cannot():
    faces, masks, lms = _discs(64, 0)
    blank = np.full_like(faces, 170)  # every input the same: the code cannot say where the disc is, the sketch can
    no_warp = AugmentConfig(warp_scale=0.0, rotation_deg=0.0, zoom=0.0, shift=0.0, flip=False, brightness=0.0, contrast=0.0,
                            saturation=0.0, hue_deg=0.0)
    stream = iter(make_training_dataset((faces, masks), (faces, masks), 16, 0, no_warp))
    batches = [{**b, "warped_a": tf.fill(tf.shape(b["warped_a"]), 170 / 255), "warped_b": tf.fill(tf.shape(b["warped_b"]), 170 / 255)}
               for b in (next(stream) for _ in range(STEPS))]
    results = {}
    for name in ("tiny", "tiny_sketch"):
        tf.keras.utils.set_random_seed(0)
        model = build_swap_model(name)
        model.compile(optimizer=tf.keras.optimizers.Adam(3e-3))
        step = tf.function(model.train_step)  # compiled once: eager steps cost ~10x
        for batch in batches:
            step(batch)
        test_faces, _, test_lms = _discs(16, 1)  # discs at places no training face had them
        results[name] = _dark_share(model.swap(blank[:16], "b", landmarks=test_lms), test_lms)
        assert results[name] == pytest.approx(_dark_share(model.swap(blank[:16], "b", sketch=sketch.for_decoder(test_lms, SIZE)),
                                                          test_lms), abs=1e-6)  # landmarks or the drawn sketch: one
    assert results["tiny_sketch"] > 0.25 and results["tiny"] < 0.05, results


def test_training_moves_the_sketch_with_the_target_and_blanks_a_share_of_them():
    rng = np.random.default_rng(0)
    n = 400
    images = rng.integers(0, 256, (n, SIZE, SIZE, 3), np.uint8)
    hull = (rng.random((n, SIZE, SIZE, 1)) > 0.5).astype(np.uint8) * 255
    masks = np.concatenate([hull, hull, hull, hull], -1)  # the sketch channels = the mask: the same warp must move both
    warped, target, mask, drawn = next(iter(make_dataset(images, masks, n, 0)))
    assert mask.shape == drawn.shape == (n, SIZE, SIZE, 2)
    blank = ~np.asarray(drawn).reshape(n, -1).any(1)
    np.testing.assert_allclose(np.asarray(drawn)[~blank], np.asarray(mask)[~blank], atol=1e-6)
    assert abs(blank.mean() - SKETCH_DROP) < 0.05  # blank for about SKETCH_DROP of the faces
    assert len(next(iter(make_dataset(images, masks[..., :2], 8, 0)))) == 3  # plain masks: no sketch


def test_face_set_sketches_sit_on_the_landmarks(aligned_project):
    data, _, project = aligned_project
    folder = data / project / "b" / "faces"
    images, masks = load_training_arrays(folder, 64, sketch=True)
    plain = load_training_arrays(folder, 64)[1]
    assert masks.shape == (*images.shape[:3], 4) and np.array_equal(masks[..., :2], plain)
    from swaplab.face.faceset import FaceSet

    fs = FaceSet(folder)
    lm = align.rescale_points(fs.kept()[0]["landmarks"], fs.face_size, 64)
    np.testing.assert_array_equal(masks[0, ..., 2:], sketch.for_decoder(lm[None], 64)[0])


def test_train_saves_a_sketched_run_that_loads_sketched_and_swaps_along_landmarks(tmp_path, aligned_project):
    data, _, project = aligned_project
    config = TrainConfig(project=project, run="sk", model="tiny_sketch", batch_size=4, steps=6, log_every=2, save_every=100,
                         preview_every=3, data_dir=str(data), weights_dir=str(tmp_path), detail_size=0)
    train(config.validate())
    model = runs.load(config.run_dir)
    assert model.sketched and model.model_name == "tiny_sketch"
    assert (config.run_dir / "previews").is_dir() and any((config.run_dir / "previews").iterdir())
    images, _ = load_training_arrays(data / project / "a" / "faces", 32)
    from swaplab.face.faceset import FaceSet

    fs = FaceSet(data / project / "a" / "faces")
    lms = align.rescale_points(np.array([r["landmarks"] for r in fs.kept()[:4]]), fs.face_size, 128)  # at the cascade's size
    cascade = detail.Cascade(model, detail.build_detail_model(detail.DetailSpec(32, 128, width=8, blocks=1)))
    with_lm = cascade.swap(images[:4], "b", landmarks=lms, detail=False)
    np.testing.assert_allclose(with_lm, model.swap(images[:4], "b", landmarks=align.rescale_points(lms, 128, 32)), atol=1e-6)
    assert np.abs(with_lm - cascade.swap(images[:4], "b", detail=False)).max() > 1e-4  # the landmarks reached the decoder


def test_a_sketched_model_checks_its_sketches():
    model = build_swap_model("tiny_sketch")
    faces = np.zeros((3, SIZE, SIZE, 3), np.float32)
    with pytest.raises(ValueError, match="2 landmark sets for 3 faces"):
        model.swap(faces, landmarks=np.zeros((2, 478, 2)))
    assert build_swap_model("tiny").swap(faces, landmarks=np.zeros((3, 478, 2))).shape == (3, SIZE, SIZE, 3)
    side = (faces.astype(np.uint8), np.zeros((3, SIZE, SIZE, 2), np.uint8))  # masks without the sketch's channels
    plain = next(iter(make_training_dataset(side, side, 3, 0)))
    with pytest.raises(ValueError, match="tiny_sketch.*sketch=True"):
        model.train_step(plain)
